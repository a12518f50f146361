from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import MODES, Mailbox
from tests.harness import Stack
from tests.llm.fake_llm import FakeLLM
from tests.observability.helpers import observed_stack


@pytest.fixture(scope="package", params=MODES)
def observed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: Mailbox,
    llm: FakeLLM,
) -> Iterator[Stack]:
    stack = observed_stack(request, tmp_path_factory, mailbox, llm)
    yield stack
    stack.stop()


@pytest.fixture
async def observed_api(observed: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=observed.url, timeout=30) as client:
        yield client
