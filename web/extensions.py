"""Flask extensions, created unbound and initialised in create_app()."""
from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
from web.errors import ErrorOut

babel = Babel()
bootstrap = Bootstrap5()
migrate = Migrate()


class RecoverlyApi(Api):
    """flask-smorest, with errors in the platform's one JSON shape (see web.errors)."""

    def handle_http_exception(self, error):
        from web.errors import render_http_exception

        return render_http_exception(error)

    ERROR_SCHEMA = ErrorOut


api = RecoverlyApi()
