"""The framing between the parent and an engine child (calfrules/engine/child_channel.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from calfrules.engine.child_channel import Channel, channel_pair, decode, encode


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel]]:
    ends = channel_pair()
    yield ends
    for end in ends:
        end.close()


def test_messages_arrive_whole_and_in_order(pair: tuple[Channel, Channel]) -> None:
    sender, receiver = pair
    bodies = [b"", b"one", bytes(range(256)) * 40]
    for body in bodies:
        sender.send(body)
    assert [receiver.receive(5.0) for _ in bodies] == bodies  # several messages in one read are split
    receiver.send(b"answer")  # and the other way
    assert sender.receive(5.0) == b"answer"


def test_writing_to_a_closed_end_is_a_broken_pipe(pair: tuple[Channel, Channel]) -> None:
    sender, receiver = pair
    receiver.close()  # as a dead child's end is
    with pytest.raises(BrokenPipeError):
        sender.send(b"case")


def test_a_message_written_in_pieces_is_put_back_together(pair: tuple[Channel, Channel]) -> None:
    sender, receiver = pair
    body = b"x" * 300
    framed = len(body).to_bytes(4, "big") + body
    os.write(sender.writer, framed[:2])  # not even the whole length yet
    with pytest.raises(TimeoutError):
        receiver.receive(0.05)
    os.write(sender.writer, framed[2:100])
    with pytest.raises(TimeoutError):
        receiver.receive(0.05)
    os.write(sender.writer, framed[100:])
    assert receiver.receive(5.0) == body


def test_a_message_larger_than_one_read(pair: tuple[Channel, Channel]) -> None:
    sender, receiver = pair
    body = os.urandom(200_000)  # more than a pipe's buffer and several reads
    pid = os.fork()
    if pid == 0:  # the writer blocks until the reader drains: write from a child
        try:
            sender.send(body)
        finally:
            os._exit(0)
    try:
        assert receiver.receive(10.0) == body
    finally:
        os.waitpid(pid, 0)


def test_nothing_to_read_times_out_and_a_closed_end_is_eof(pair: tuple[Channel, Channel]) -> None:
    sender, receiver = pair
    with pytest.raises(TimeoutError):
        receiver.receive(0.01)
    sender.close()
    with pytest.raises(EOFError):
        receiver.receive(1.0)
    with pytest.raises(EOFError):
        receiver.receive()  # no time limit: the child's side


def test_values_survive_encoding() -> None:
    plain = [{"calf_pain": True, "age": 41, "d_dimer": 0.4}]
    assert encode(plain)[:1] == b"m"
    assert decode(encode(plain)) == plain


class _Opaque:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Opaque)

    __hash__ = object.__hash__


def test_what_marshal_cannot_write_goes_by_pickle() -> None:
    value = ("ok", _Opaque())
    encoded = encode(value)
    assert encoded[:1] == b"p"
    assert decode(encoded) == value
