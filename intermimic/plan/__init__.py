"""Training-free refinement: a sampling-based planner that tracks a clip in physics.

:func:`~intermimic.plan.planner.plan_clip` drives the teacher's own tracking
environment with sampled PD-target residuals (MPPI with annealed noise over a few knots of
a receding horizon) and commits the best sample's first step at every frame; the
committed motion is a :class:`~intermimic.rl.rollout.Rollout`, the same record a teacher's
replay writes, so refinement, publishing and the student read either. Its ``base`` makes
it plan around an earlier plan's actions (MPC around a plan), and
:class:`~intermimic.plan.mppi.MppiStep` is one committed frame from any state (an
expert's label for a learner). With ``PlannerSettings.window`` it plans the clip in
windows, each several times, and keeps the attempt a :data:`~intermimic.plan.windows.Judge`
scores best (:mod:`intermimic.plan.windows`).
"""

from intermimic.plan.mppi import MppiStep
from intermimic.plan.planner import PlanResult, plan_clip
from intermimic.plan.settings import PlannerSettings
from intermimic.plan.windows import Judge, tracking_judge

__all__ = ["Judge", "MppiStep", "PlanResult", "PlannerSettings", "plan_clip", "tracking_judge"]
