from services.common.runner import serve
from services.gateway.app import create_app

serve("gateway", 8080, create_app)
