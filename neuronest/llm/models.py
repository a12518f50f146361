"""Model strings: `provider:model`, or a bare name for the default OpenAI-compatible endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from neuronest.errors import Invalid

PROVIDERS = ("openai", "anthropic")


@dataclass(frozen=True)
class ModelRef:
    provider: str | None  # None: the default OpenAI-compatible endpoint (NEURONEST_LLM_BASE_URL)
    name: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}" if self.provider else self.name


def parse_model(model: str, field: str = "model") -> ModelRef:
    model = model.strip()
    provider, colon, name = model.partition(":")
    if not colon:
        if not model:
            raise Invalid(f"{field}: must name a model", field=field)
        return ModelRef(None, model)
    if provider not in PROVIDERS:
        raise Invalid(
            f"{field}: unknown provider {provider!r} (known: {', '.join(PROVIDERS)}; "
            "a bare model name uses the default OpenAI-compatible endpoint)",
            field=field,
        )
    if not name.strip():
        raise Invalid(f"{field}: must name a model after {provider}:", field=field)
    return ModelRef(provider, name.strip())
