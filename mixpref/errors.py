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


class NotFittedError(DataError, AttributeError):
    """A fitted attribute or method was used before ``fit``.

    A subclass of :class:`DataError` (a user's mistake, reported in one line) and of
    ``AttributeError`` (so that ``hasattr(model, "weights_")`` is False before fitting, as
    in scikit-learn).

    Examples
    --------
    >>> import mixpref as mp
    >>> from mixpref.errors import NotFittedError
    >>> try:
    ...     mp.BradleyTerry().weights_
    ... except NotFittedError as err:
    ...     print(err)
    BradleyTerry is not fitted yet; call fit(data, features) first
    >>> hasattr(mp.BradleyTerry(), "weights_")
    False
    """
