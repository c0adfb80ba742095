from services.common.runner import serve
from services.web.app import create_app

serve("web", 3008, create_app)
