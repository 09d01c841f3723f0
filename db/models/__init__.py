"""ORM models: the one place that describes the schema (migrations mirror it).

Rows never leave `db/`: one module per aggregate (`db/runs.py`, `db/evaluations.py`, ...) turns
them into plain dataclasses or DataFrames. Tables live in one module per area under this
package; every table is re-exported here so `from db.models import Run` keeps working.
"""

from db.models.base import (
    FIXED_THRESHOLD_RULE,
    LABEL_NAMES,
    NAMING_CONVENTION,
    RUN_STATUSES,
    SUBSETS,
    Base,
    utcnow,
)
from db.models.calibration import SiteCalibration
from db.models.features import FeatureMap, LookalikeIndex, MapPoint
from db.models.imports import EXTERNAL_ARCH, RunImport
from db.models.label_issues import LabelIssue
from db.models.people import (
    REVIEW_VERDICTS,
    USER_ROLES,
    AuditEvent,
    Review,
    SignInFailure,
    Upload,
    UploadScore,
    User,
)
from db.models.registry import PRODUCTION_ALIAS, RunAlias
from db.models.results import (
    Dataset,
    Epoch,
    Evaluation,
    Image,
    Prediction,
    Run,
    RunMetric,
    Split,
    SplitAssignment,
)

__all__ = [
    "EXTERNAL_ARCH", "FIXED_THRESHOLD_RULE", "LABEL_NAMES", "NAMING_CONVENTION",
    "PRODUCTION_ALIAS", "REVIEW_VERDICTS", "RUN_STATUSES", "SUBSETS", "USER_ROLES",
    "AuditEvent", "Base", "Dataset", "Epoch", "Evaluation", "FeatureMap", "Image", "LabelIssue",
    "LookalikeIndex", "MapPoint", "Prediction", "Review", "Run", "RunAlias", "RunImport",
    "RunMetric", "SignInFailure", "SiteCalibration", "Split", "SplitAssignment", "Upload",
    "UploadScore", "User", "utcnow",
]
