"""one vocabulary: the threshold rule is stored as `--threshold-rule` spells it ("youden",
"youden-middle", "sensitivity:0.95", "fixed:0.5") in runs and run_metrics, where a metric row
names the rule whose threshold it is at (no more "youden" for "the operating point, whatever
the rule"); evaluations.cam_metrics_seconds is attention_seconds; predictions.lung_outline holds
the lung mask's outline measured at evaluation time

Revision ID: 0011
Revises: 0010

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The words of 0010 and before, as this revision found them (frozen: not imported from the app).
OLD_RUN_RULES = {"youden on val": "youden", "youden middle of tie on val": "youden-middle",
                 "fixed 0.5": "fixed:0.5"}
OLD_SENSITIVITY = ("sensitivity >= ", " on val")
OLD_METRIC_FIXED, OLD_METRIC_OPERATING = "0.5", "youden"
FIXED = "fixed:0.5"

runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("threshold_rule", sa.String))
evaluations = sa.table("evaluations", sa.column("id", sa.Integer),
                       sa.column("run_id", sa.Integer))
run_metrics = sa.table("run_metrics", sa.column("evaluation_id", sa.Integer),
                       sa.column("threshold_rule", sa.String))


def new_run_rule(old: str) -> str:
    """'youden on val' -> 'youden'; 'sensitivity >= 0.95 on val' -> 'sensitivity:0.95'."""
    if old in OLD_RUN_RULES:
        return OLD_RUN_RULES[old]
    prefix, suffix = OLD_SENSITIVITY
    if old.startswith(prefix) and old.endswith(suffix):
        return "sensitivity:" + old[len(prefix):-len(suffix)]
    return old


def old_run_rule(new: str) -> str:
    for old, rule in OLD_RUN_RULES.items():
        if rule == new:
            return old
    if new.startswith("sensitivity:"):
        return OLD_SENSITIVITY[0] + new.partition(":")[2] + OLD_SENSITIVITY[1]
    return new


def _rewrite_run_rules(convert) -> None:  # noqa: ANN001 - old word -> new word
    connection = op.get_bind()
    stored = connection.execute(sa.select(runs.c.threshold_rule).distinct()).scalars().all()
    for value in stored:
        if value is not None and convert(value) != value:
            connection.execute(runs.update().where(runs.c.threshold_rule == value)
                               .values(threshold_rule=convert(value)))


def upgrade() -> None:
    connection = op.get_bind()
    _rewrite_run_rules(new_run_rule)
    connection.execute(run_metrics.update()
                       .where(run_metrics.c.threshold_rule == OLD_METRIC_FIXED)
                       .values(threshold_rule=FIXED))
    # A run's operating point row takes the run's own rule. A run at the fixed 0.5 never stored
    # a second row for it (its 0.5 row is its operating point), so there is no clash.
    rules = connection.execute(sa.select(runs.c.threshold_rule).distinct()
                               .where(runs.c.threshold_rule != FIXED)).scalars().all()
    for rule in rules:
        of_rule = (sa.select(evaluations.c.id).join(runs, runs.c.id == evaluations.c.run_id)
                   .where(runs.c.threshold_rule == rule))
        connection.execute(run_metrics.update()
                           .where(run_metrics.c.threshold_rule == OLD_METRIC_OPERATING,
                                  run_metrics.c.evaluation_id.in_(of_rule))
                           .values(threshold_rule=rule))
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.alter_column("cam_metrics_seconds", new_column_name="attention_seconds",
                              existing_type=sa.Float(), existing_nullable=True)
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lung_outline", sa.JSON(), nullable=True))


def downgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("lung_outline")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.alter_column("attention_seconds", new_column_name="cam_metrics_seconds",
                              existing_type=sa.Float(), existing_nullable=True)
    connection.execute(run_metrics.update()
                       .where(run_metrics.c.threshold_rule != FIXED)
                       .values(threshold_rule=OLD_METRIC_OPERATING))
    connection.execute(run_metrics.update()
                       .where(run_metrics.c.threshold_rule == FIXED)
                       .values(threshold_rule=OLD_METRIC_FIXED))
    _rewrite_run_rules(old_run_rule)
