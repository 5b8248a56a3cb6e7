"""Fan-out of received items to any number of async iterators.

Each `Subscription` starts receiving when it is created (not at its first `__anext__`,
as an async generator would), so a test can subscribe, then act, then read what the
action caused without a race. Queues are bounded: a reader that falls behind loses
its oldest items (counted in `dropped`), never the session's memory.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscription(Generic[T]):
    """An async iterator over items published after its creation.

    Iteration ends when the source closes (the connection ended) and everything
    queued has been read. `close()` (or leaving `async with`) unsubscribes early.

    Attributes:
        dropped: Items lost because this reader fell more than `limit` items behind.
    """

    def __init__(self, limit: int) -> None:
        """Keep at most `limit` unread items."""
        self._items: deque[T] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        """Queue `item` (drop the oldest if full)."""
        if self._closed:
            return
        if len(self._items) >= self._limit:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """End the iteration once the queued items are read."""
        self._closed = True
        self._ready.set()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    async def next(self, timeout: float | None = None) -> T:
        """The next item, waiting at most `timeout` seconds.

        Raises:
            TimeoutError: nothing arrived in time.
            EOFError: the source closed and nothing is left.
        """
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            raise EOFError("the stream ended") from None

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Fanout(Generic[T]):
    """One source, many `Subscription`s; subscriptions nobody holds are forgotten."""

    def __init__(self, limit: int) -> None:
        """Give each subscription a queue of `limit` items."""
        self._limit = limit
        self._subscribers: weakref.WeakSet[Subscription[T]] = weakref.WeakSet()
        self.closed = False
        self.count = 0

    def subscribe(self) -> Subscription[T]:
        """A new subscription (already ended if the source has closed)."""
        subscription: Subscription[T] = Subscription(self._limit)
        if self.closed:
            subscription.close()
        else:
            self._subscribers.add(subscription)
        return subscription

    def publish(self, item: T) -> None:
        """Hand `item` to every live subscription."""
        self.count += 1
        for subscription in list(self._subscribers):
            subscription.put(item)

    def close(self) -> None:
        """End every subscription (after their queued items)."""
        self.closed = True
        for subscription in list(self._subscribers):
            subscription.close()
