"""Aggregation: preference profiles, social-choice rules, maximal lotteries, diagnostics.

``mp.aggregate(profile, rule, **options)`` applies a rule (see
:func:`mixpref.aggregation.rules.aggregate`). Each rule is a public function of
:mod:`mixpref.aggregation.rules` registered in :mod:`mixpref.aggregation.registry`, which
records what it reads and needs. The folder is called ``aggregation`` rather than
``aggregate`` so that the package never shadows the function ``mixpref.aggregate``.
"""
