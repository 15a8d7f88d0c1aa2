"""Evaluation of fitted preference models on held-out data.

``mp.evaluate.calibration(model, data, features)`` is the function (it shadows the module
of the same name as an attribute of this package; import helpers from
``mixpref.evaluate.calibration`` as usual, e.g. ``from mixpref.evaluate.calibration import
plot_calibration``).
"""

from .calibration import Calibration, calibration, plot_calibration, reliability_table

# the personalisation protocol (issue 11): the function shadows its module in the same way
from .personalization import Split, personalization, plot_personalization, split

# the Bayes oracle of few-shot adaptation on synthetic populations (their ground truth)
from .few_shot_oracle import Oracle

__all__ = ["Calibration", "Oracle", "Split", "calibration", "personalization", "plot_calibration",
           "plot_personalization", "reliability_table", "split"]
