"""The blueprints pipegen ships; `generator.blueprint.registry()` finds them here."""

from blueprints.microservice.blueprint import BLUEPRINT as MICROSERVICE
from blueprints.multi_region.blueprint import BLUEPRINT as MULTI_REGION
from blueprints.serverless.blueprint import BLUEPRINT as SERVERLESS
from blueprints.web_app.blueprint import BLUEPRINT as WEB_APP

ALL = (WEB_APP, MICROSERVICE, SERVERLESS, MULTI_REGION)
