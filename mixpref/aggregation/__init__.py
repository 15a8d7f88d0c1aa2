"""Aggregation: preference profiles, social-choice rules, maximal lotteries, diagnostics.

``mp.aggregate(profile, rule, **options)`` applies a rule (see
:func:`mixpref.aggregation.rules.aggregate`). The folder is called ``aggregation`` rather
than DESIGN.md's ``aggregate`` so that the package never shadows the function
``mixpref.aggregate``.
"""
