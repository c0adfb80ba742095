from services.basket.app import create_app
from services.common.runner import serve

serve("basket", 3007, create_app)
