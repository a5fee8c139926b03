"""Distillation from a dense teacher: its in-batch query-passage scores are the targets the
student's are pulled towards (seed 002, V24: an XLM-R SPLADE student of a BGE-M3 teacher).

The teacher is a frozen dense encoder (mean pooling, L2-normalised, as ``contrastive_embedding``
pools), loaded from the same kind of reference as ``model.base`` and never trained: the
embeddings of every training query and passage are computed once, in eval mode without grad,
and a batch's teacher scores are their cosine similarities. It encodes the raw texts with its own
tokenizer, so it need not share the student's vocabulary.

Both losses compare logits: the student's in-batch scores divided by ``temperature`` (the
InfoNCE logits) with the teacher's cosine similarities divided by ``teacher_temperature``.

- ``kl``: KL(teacher || student) of the two softmax distributions over each query's in-batch
  passages (the in-batch KL of Formal et al. 2022, "From Distillation to Hard Negative Sampling",
  SPLADE++), averaged over queries;
- ``margin_mse``: MarginMSE (Hofstätter et al. 2020, "Improving Efficient Neural Ranking Models
  with Cross-Architecture Knowledge Distillation"): the mean squared difference between the
  student's and the teacher's margins, positive score minus each in-batch negative's.

Pairs the InfoNCE loss masks (another question about the same passage) are left out of both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Distillation = Literal["kl", "margin_mse"]
TEACHER_CACHE = "teacher_embeddings"  # key of the sweep-wide TeacherEmbeddings in PairData.extra
TEACHER_MAX_LENGTH = 512  # tokens: the teacher reads whole passages, up to its own position limit


@dataclass(frozen=True)
class TeacherEmbeddings:
    """The teacher's unit vectors of the training split's queries and passages (CPU, float32),
    row i of ``query`` for query i, row j of ``corpus`` for passage j."""

    key: tuple[str, str, str]  # (teacher reference, query prefix, passage prefix): what they depend on
    query: "torch.Tensor"
    corpus: "torch.Tensor"

    def scores(self, queries: "torch.Tensor", passages: "torch.Tensor") -> "torch.Tensor":
        """Cosine similarities (queries x passages) of the given training-query and passage indices."""
        return self.query[queries] @ self.corpus[passages].T


def _safetensor_error() -> type[Exception]:
    """safetensors' error for an unreadable weights file (not an OSError or ValueError)."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - transformers needs safetensors
        return OSError
    return SafetensorError


def encode_texts(location: str, texts: list[str], prefix: str, trust_remote_code: bool = False,
                 batch_size: int = 32) -> "torch.Tensor":  # fmt: skip
    """Mean-pooled, L2-normalised embeddings of ``texts`` (input order) by the frozen encoder at
    ``location``, in eval mode without grad."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from finesweep.tasks.contrastive_embedding import mean_pool

    hf_logging.set_verbosity_error()  # a load report per teacher (its unused pooler) is noise in the sweep log
    hf_logging.disable_progress_bar()

    # offline only: a teacher is a local folder or already in the Hugging Face cache (checked with the
    # job, its folder as model.base's is); what that check cannot see is refused here, as model.base's is
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code, local_files_only=True)
        model = AutoModel.from_pretrained(location, trust_remote_code=trust_remote_code, local_files_only=True).eval()
    except (OSError, ValueError, _safetensor_error()) as exc:
        from finesweep.errors import ModelError

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"train.teacher: cannot load {location!r}: {first}") from None
    max_length = min(TEACHER_MAX_LENGTH, tokenizer.model_max_length)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: little padding
    out = torch.empty(0)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer([prefix + texts[i] for i in chunk], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt")  # fmt: skip
            vectors = mean_pool(model, batch["input_ids"], batch["attention_mask"])
            if not out.numel():
                out = torch.empty(len(texts), vectors.shape[1])
            out[chunk] = vectors
    return out.clone()  # an ordinary tensor, usable with autograd elsewhere


def teacher_embeddings(reference: str, location: str, train: dict[str, list], query_prefix: str,
                       passage_prefix: str, trust_remote_code: bool = False) -> TeacherEmbeddings:  # fmt: skip
    """The embeddings by teacher ``reference`` (loaded from ``location``) of one split's queries and
    corpus (``train``: a PairData split)."""
    return TeacherEmbeddings(
        (reference, query_prefix, passage_prefix),
        encode_texts(location, train["query"], query_prefix, trust_remote_code),
        encode_texts(location, train["corpus"], passage_prefix, trust_remote_code),
    )


def distillation_loss(student: "torch.Tensor", teacher: "torch.Tensor", excluded: "torch.Tensor",
                      kind: Distillation) -> "torch.Tensor":  # fmt: skip
    """The distillation loss of one batch (see the module). ``student`` and ``teacher`` are
    (queries x passages) logits with query i's positive in column i; ``excluded`` marks the pairs
    neither side scores (True: left out). The student's logits may be -inf there."""
    import torch
    import torch.nn.functional as F

    if kind == "kl":
        student_log = F.log_softmax(student.masked_fill(excluded, float("-inf")), dim=1).masked_fill(excluded, 0.0)
        target = F.softmax(teacher.masked_fill(excluded, float("-inf")), dim=1)  # exactly 0 where excluded
        return F.kl_div(student_log, target, reduction="batchmean")
    negatives = ~excluded & ~torch.eye(len(student), dtype=torch.bool, device=student.device)
    if not negatives.any():  # a batch of one passage: no margin to match
        return student.new_zeros(())
    student_margin = student.diagonal().unsqueeze(1) - student
    teacher_margin = teacher.diagonal().unsqueeze(1) - teacher
    return F.mse_loss(student_margin[negatives], teacher_margin[negatives])
