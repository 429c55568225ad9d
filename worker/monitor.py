"""A module-level Celery app for Celery's own tools: `celery --app worker.monitor flower` (or inspect).

It is configured like the workers' app (queue name, key prefix), so Flower's broker page counts
the jobs waiting in this service's queue rather than in an empty default one.
"""

from __future__ import annotations

from .celery_app import create_celery
from .settings import Settings

app = create_celery(Settings())
