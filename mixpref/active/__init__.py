"""Active elicitation: which comparison to ask next, of whom, and what it is worth.

:func:`suggest` scores a pool of candidate comparisons under one objective (information
about a person's type, about the reward parameters, about the aggregate's outcome,
predictive entropy, or random) and picks a diverse batch; :func:`simulate` and
:func:`onboard` run the ask-answer-update loop against known answers.
"""

from .objectives import OBJECTIVES
from .simulate import onboard, simulate, truth_pool
from .suggest import suggest

__all__ = ["suggest", "simulate", "onboard", "truth_pool", "OBJECTIVES"]
