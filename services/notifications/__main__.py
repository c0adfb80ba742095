from services.common.runner import serve
from services.notifications.app import create_app

serve("notifications", 3006, create_app)
