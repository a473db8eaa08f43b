"""`deepcopy_without`: a deep copy that leaves the state of one `fit` behind."""

import copy


def deepcopy_without(obj, memo, names):
    """A deep copy of `obj` whose attributes in `names` are None.

    For a `__deepcopy__` whose object holds what belongs to one `fit` (its
    run, the learning rates to put back), which cannot or should not be
    copied.

    Example:

    ```python
    def __deepcopy__(self, memo):
        return deepcopy_without(self, memo, ("_run",))
    ```
    """
    duplicate = type(obj).__new__(type(obj))
    memo[id(obj)] = duplicate
    for key, value in obj.__dict__.items():
        duplicate.__dict__[key] = None if key in names else copy.deepcopy(value, memo)
    return duplicate
