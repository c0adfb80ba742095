from services.common.runner import serve
from services.inventory.app import create_app

serve("inventory", 3005, create_app)
