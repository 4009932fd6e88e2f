"""Per-user flood control (bot.flood): the token bucket, its one notice, and redelivered copies."""

from __future__ import annotations

from bot.flood import RECENT_IDS, FloodControl


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def flood(burst: int = 3, window: float = 3.0) -> tuple[FloodControl, Clock]:
    clock = Clock()
    return FloodControl(burst, window, clock=clock), clock


def test_the_burst_is_free_then_each_update_waits_for_its_token_and_one_notice_is_sent() -> None:
    control, _clock = flood(burst=3, window=3.0)  # one token per second
    assert [control.take(1, update_id=i) for i in range(3)] == [(0.0, False)] * 3
    assert control.take(1, update_id=3) == (1.0, True)
    assert control.take(1, update_id=4) == (2.0, False)  # told once per flood


def test_users_have_their_own_buckets() -> None:
    control, _clock = flood(burst=1)
    assert control.take(1, update_id=1) == (0.0, False)
    assert control.take(2, update_id=2) == (0.0, False)
    assert control.take(1, update_id=3)[0] > 0


def test_tokens_come_back_with_time() -> None:
    control, clock = flood(burst=2, window=2.0)
    control.take(1, update_id=1)
    control.take(1, update_id=2)
    clock.now += 2.0
    assert control.take(1, update_id=3) == (0.0, False)
    assert control.take(1, update_id=4) == (0.0, False)
    assert control.take(1, update_id=5)[0] == 1.0


def test_a_redelivered_copy_of_an_update_takes_no_token() -> None:
    control, _clock = flood(burst=3)
    for update_id in (10, 11, 12):
        assert control.take(7, update_id=update_id) == (0.0, False)
        # Telegram sends the same update again (webhook timeout, restart): not a new message.
        assert control.take(7, update_id=update_id) == (0.0, False)
    assert control.take(7, update_id=13)[0] > 0  # a genuinely new message is over the burst


def test_only_the_latest_ids_are_remembered() -> None:
    # One token left after RECENT_IDS + 1 updates; no refill during the test.
    control, _clock = flood(burst=RECENT_IDS + 2, window=1e9)
    for update_id in range(RECENT_IDS + 1):
        assert control.take(7, update_id=update_id) == (0.0, False)
    assert control.take(7, update_id=RECENT_IDS) == (0.0, False)  # remembered: free
    assert control.take(7, update_id=0) == (0.0, False)  # forgotten: takes the last token
    assert control.take(7, update_id=RECENT_IDS)[0] == 0.0  # still remembered
    assert control.take(7, update_id=1)[0] > 0  # forgotten too, and no token is left


def test_without_an_update_id_every_call_takes_a_token() -> None:
    control, _clock = flood(burst=1)
    assert control.take(1) == (0.0, False)
    assert control.take(1)[0] > 0
