"""Model strings: `provider:model`, or any other name for the default OpenAI-compatible endpoint.

Only `openai:` and `anthropic:` name a provider of their own. Local servers use colons in their
own names (Ollama's `llama3:8b`, `hf.co/org/repo:Q4_K_M`), so a prefix that is no known provider
is part of the name and the whole string goes to the default endpoint unchanged; `ollama:` and
`openai-compatible:` say so explicitly and are stripped.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuronest.errors import Invalid

PROVIDERS = ("openai", "anthropic")
DEFAULT_ENDPOINT_PREFIXES = ("ollama", "openai-compatible")
MAX_MODEL_LENGTH = 300


@dataclass(frozen=True)
class ModelRef:
    provider: str | None  # None: the default OpenAI-compatible endpoint (NEURONEST_LLM_BASE_URL)
    name: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}" if self.provider else self.name


def parse_model(model: str, field: str = "model") -> ModelRef:
    model = model.strip()
    if not model:
        raise Invalid(f"{field}: must name a model", field=field)
    if len(model) > MAX_MODEL_LENGTH:
        raise Invalid(f"{field}: must be at most {MAX_MODEL_LENGTH} characters", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in model):
        raise Invalid(f"{field}: must not contain control characters", field=field)
    prefix, colon, rest = model.partition(":")
    rest = rest.strip()
    if colon and prefix in (*PROVIDERS, *DEFAULT_ENDPOINT_PREFIXES):
        if not rest:
            raise Invalid(f"{field}: must name a model after {prefix}:", field=field)
        provider = prefix if prefix in PROVIDERS else None
        return ModelRef(provider, rest)
    return ModelRef(None, model)
