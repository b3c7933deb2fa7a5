"""Flask extensions, created unbound and initialised in create_app()."""
from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from web.errors import ErrorOut

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
bootstrap = Bootstrap5()
migrate = Migrate()
# Limits and storage are set by web.rate_limits; the client address is request.remote_addr, which ProxyFix rewrites
# from X-Forwarded-For only for the RECOVERLY_PROXY_COUNT proxies we trust.
limiter = Limiter(key_func=get_remote_address)


class RecoverlyApi(Api):
    """flask-smorest, with errors in the platform's one JSON shape (see web.errors)."""

    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error):
        from web.errors import render_http_exception

        return render_http_exception(error)


api = RecoverlyApi()
