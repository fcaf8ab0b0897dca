"""Property: every window equals its slice of the series and never crosses a split boundary."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_tf import data
from lstm_tf.errors import UserError


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(2, 400), window=st.integers(1, 40), horizon=st.integers(1, 10),
       stride=st.integers(1, 7), val=st.floats(0.01, 0.6), test=st.floats(0.01, 0.6),
       columns=st.integers(1, 3), targets=st.integers(1, 3))
def test_windows_are_slices_inside_their_split(rows, window, horizon, stride, val, test,
                                               columns, targets):
    targets = min(targets, columns)
    values = np.random.default_rng(rows).standard_normal((rows, columns))
    try:
        split = data.split_rows(rows, val, test, window, horizon)
    except UserError:
        return  # refused cleanly: fractions or rows leave no room (tested elsewhere)
    assert 0 < split.train_end < split.val_end < split.rows == rows
    seen_targets = set()
    for part in ("train", "val", "test"):
        start, end = split.bounds(part)
        starts = data.window_starts(start, end, window, horizon, stride)
        assert len(starts) >= 1  # split_rows guarantees every part a window
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
