from services.common.runner import serve
from services.payments.app import create_app

serve("payments", 3004, create_app)
