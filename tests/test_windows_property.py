"""Property: every window equals its slice of the series and never crosses a split boundary."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lstm_tf import data
from lstm_tf.errors import UserError


def fits(rows, val, test, window, horizon) -> bool:
    try:
        data.split_rows(rows, val, test, window, horizon)
    except UserError:
        return False
    return True


@st.composite
def layouts(draw):
    """Series layouts that split_rows accepts: only valid examples are drawn (the refusals
    are tested with the error catalogue), so every example exercises the windows."""
    window, horizon = draw(st.integers(1, 40)), draw(st.integers(1, 10))
    val = draw(st.floats(0.01, 0.6))
    test = draw(st.floats(0.01, min(0.6, 0.95 - val)))
    # The fewest rows split_rows accepts, without a validation part (what a search calling
    # `fits` from window + 2 * horizon up would find, without a refusal, which computes
    # this minimum, per row); longer series have one where it leaves a training window.
    smallest = data.split.minimum_rows(window, horizon, val, test,
                                       val_size=data.split.NO_VALIDATION)
    assume(smallest is not None)
    rows = draw(st.integers(smallest, max(smallest, 400)))
    assume(fits(rows, val, test, window, horizon))  # rounding makes a rare gap above smallest
    return rows, window, horizon, val, test


@settings(max_examples=300, deadline=None)
@given(layout=layouts(), stride=st.integers(1, 7), columns=st.integers(1, 3),
       targets=st.integers(1, 3))
def test_windows_are_slices_inside_their_split(layout, stride, columns, targets):
    rows, window, horizon, val, test = layout
    targets = min(targets, columns)
    values = np.random.default_rng(rows).standard_normal((rows, columns))
    split = data.split_rows(rows, val, test, window, horizon)
    assert 0 < split.train_end <= split.val_end < split.rows == rows
    # No validation part only where one of the fractions' size leaves no training window
    # (the fallback a panel of such series has too: `split.panel_parts`).
    validated = split.val_end > split.train_end
    if not validated:
        val_rows, test_rows = (int(n[0]) for n in data.split.part_rows([rows], horizon, val,
                                                                      test))
        assert rows - val_rows - test_rows < window + horizon
    seen_targets = set()
    for part in ("train", "val", "test")[:: 1 if validated else 2]:
        start, end = split.bounds(part)
        starts = data.window_starts(start, end, window, horizon, stride)
        assert len(starts) >= 1  # split_rows guarantees every part it keeps a window
        inputs, outputs = data.windows(values, starts, window, horizon, targets)
        for t, x, y in zip(starts, inputs, outputs):
            assert start <= t and t + horizon <= end  # targets inside the split
            assert t - window >= 0  # inputs never before the series
            np.testing.assert_array_equal(x, values[t - window:t])
            np.testing.assert_array_equal(y, values[t:t + horizon, :targets])
            rows_used = set(range(t, t + horizon))
            assert not rows_used & seen_targets or stride < horizon  # only overlapping strides
        for t in starts:
            seen_targets |= set(range(t, t + horizon))
        if part != "train":
            # no window of this part takes a target from an earlier part
            assert starts.min() >= start
