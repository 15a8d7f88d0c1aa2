"""Errors raised by mixpref."""


class DataError(ValueError):
    """Malformed input: the message names the column, the offending row(s) and what was expected.

    Examples
    --------
    >>> import mixpref as mp
    >>> try:
    ...     raise mp.DataError("column 'label', row 3: got 'maybe', expected 'a', 'b' or 'tie'")
    ... except ValueError as err:
    ...     print(err)
    column 'label', row 3: got 'maybe', expected 'a', 'b' or 'tie'
    """
