"""Every mapped model, imported once so that ``metadata`` is complete (Alembic, schema tests)."""

from marketplace.accounts import models as accounts_models
from marketplace.auctions import models as auctions_models
from marketplace.db import Base
from marketplace.ledger import models as ledger_models
from marketplace.listings import models as listings_models
from marketplace.offers import models as offers_models
from marketplace.registry import models as registry_models
from marketplace.settlement import models as settlement_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "auctions_models",
    "ledger_models",
    "listings_models",
    "metadata",
    "offers_models",
    "registry_models",
    "settlement_models",
]
