from services.common.runner import serve
from services.products.app import create_app

serve("products", 3002, create_app)
