from services.common.runner import serve
from services.users.app import create_app

serve("users", 3001, create_app)
