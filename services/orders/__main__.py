from services.common.runner import serve
from services.orders.app import create_app

serve("orders", 3003, create_app)
