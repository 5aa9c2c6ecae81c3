"""The data room of a listing: documents for buyers, behind a non-disclosure agreement.

Invariants:
- the owning bank's users, the settlement parties' users and operators (the confidential
  viewers) see every document; any other signed-in user sees the non-confidential documents of a
  published listing, and only after accepting its NDA (``nda_required`` otherwise);
- only the listing bank and operators upload, and only PDF, PNG, JPEG, plain text and CSV whose
  bytes match the declared type (``unsupported_file_type``, 415), at most
  ``settings.max_upload_bytes`` (``file_too_large``, 413);
- bytes are stored under ``settings.uploads_dir/<listing id>/<document id>``, never under a name
  the client chose, and served back as attachments with ``nosniff``;
- accepting an NDA twice keeps the first acceptance.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Final

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.security import Principal
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import DomainError, Forbidden, NotFound
from marketplace.listings.models import ListingDocument, NdaAcceptance
from marketplace.listings.service import get_listing, is_owner, is_published, visible_confidential


class FileTooLarge(DomainError):
    status = 413


class UnsupportedFile(DomainError):
    status = 415


@dataclass(frozen=True)
class FileType:
    extensions: tuple[str, ...]
    media_type: str
    also_declared_as: tuple[str, ...] = ()

    def accepts_declared(self, declared: str) -> bool:
        return declared in (self.media_type, "application/octet-stream", *self.also_declared_as)


FILE_TYPES: Final = (
    FileType((".pdf",), "application/pdf", ("application/x-pdf",)),
    FileType((".png",), "image/png"),
    FileType((".jpg", ".jpeg"), "image/jpeg", ("image/jpg", "image/pjpeg")),
    FileType((".txt",), "text/plain"),
    FileType((".csv",), "text/csv", ("application/csv", "application/vnd.ms-excel", "text/plain")),
)


def _looks_like(media_type: str, content: bytes) -> bool:
    if media_type == "application/pdf":
        return content.startswith(b"%PDF-")
    if media_type == "image/png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if media_type == "image/jpeg":
        return content.startswith(b"\xff\xd8\xff")
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def safe_filename(filename: str) -> str:
    """The client's file name reduced to its last part, without control or path characters."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return name[:200] or "document"


def file_type_for(filename: str, declared: str, content: bytes) -> FileType:
    """The accepted type of an upload: its extension, declared type and first bytes must agree."""
    suffix = Path(filename).suffix.lower()
    media_type = declared.split(";", 1)[0].strip().lower()
    for file_type in FILE_TYPES:
        if suffix in file_type.extensions:
            if not file_type.accepts_declared(media_type):
                break
            if not _looks_like(file_type.media_type, content):
                raise UnsupportedFile(
                    "unsupported_file_type", f"the content of {filename!r} is not {file_type.media_type}"
                )
            return file_type
    raise UnsupportedFile(
        "unsupported_file_type", "only PDF, PNG, JPEG, plain text and CSV files may be uploaded"
    )


async def upload_document(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    *,
    filename: str,
    content_type: str,
    content: bytes,
    confidential: bool,
    uploads_dir: Path,
    max_bytes: int,
) -> ListingDocument:
    caller = require(principal, "bank_user", "operator")
    listing = await get_listing(session, listing_id, caller)
    if caller.role != "operator" and not is_owner(caller, listing):
        raise Forbidden("not_owner", "only the listing bank or an operator may upload documents")
    if len(content) > max_bytes:
        raise FileTooLarge("file_too_large", f"documents are limited to {max_bytes} bytes")
    if not content:
        raise UnsupportedFile("unsupported_file_type", "the file is empty")
    name = safe_filename(filename)
    file_type = file_type_for(name, content_type, content)
    document_id = uuid.uuid4()
    folder = uploads_dir / str(listing.id)
    path = folder / document_id.hex
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    await anyio.Path(path).write_bytes(content)
    document = ListingDocument(
        id=document_id,
        listing_id=listing.id,
        filename=name,
        content_type=file_type.media_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        stored_path=str(path.relative_to(uploads_dir)),
        confidential=confidential,
        uploaded_by=caller.user_id,
        at=utcnow(),
    )
    session.add(document)
    await session.flush()
    return document


async def has_accepted_nda(session: AsyncSession, listing_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(NdaAcceptance.id).where(
            NdaAcceptance.listing_id == listing_id, NdaAcceptance.user_id == user_id
        )
    )
    return found is not None


async def accept_nda(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, ip: str | None
) -> NdaAcceptance:
    caller = require(principal)
    listing = await get_listing(session, listing_id, caller)
    existing = await session.scalar(
        select(NdaAcceptance).where(
            NdaAcceptance.listing_id == listing.id, NdaAcceptance.user_id == caller.user_id
        )
    )
    if existing is not None:
        return existing
    acceptance = NdaAcceptance(
        listing_id=listing.id, user_id=caller.user_id, at=utcnow(), ip=(ip or "")[:64] or None
    )
    try:
        async with session.begin_nested():
            session.add(acceptance)
    except IntegrityError:
        accepted = await session.scalar(
            select(NdaAcceptance).where(
                NdaAcceptance.listing_id == listing.id, NdaAcceptance.user_id == caller.user_id
            )
        )
        if accepted is None:
            raise
        return accepted
    return acceptance


async def visible_documents(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID
) -> list[ListingDocument]:
    """The documents the caller may read (``nda_required`` until a buyer accepted the NDA)."""
    caller = require(principal)
    listing = await get_listing(session, listing_id, caller)
    statement = select(ListingDocument).where(ListingDocument.listing_id == listing.id)
    if not visible_confidential(caller, listing):
        if not is_published(listing):
            raise NotFound("not_found", "no such listing")
        if not await has_accepted_nda(session, listing.id, caller.user_id):
            raise Forbidden("nda_required", "accept the listing's NDA to open its data room")
        statement = statement.where(ListingDocument.confidential.is_(False))
    rows = await session.scalars(statement.order_by(ListingDocument.at, ListingDocument.id))
    return list(rows.all())


async def read_document(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    document_id: uuid.UUID,
    uploads_dir: Path,
) -> tuple[ListingDocument, bytes]:
    documents = await visible_documents(session, principal, listing_id)
    for document in documents:
        if document.id == document_id:
            stored = PurePath(document.stored_path)
            if stored.is_absolute() or ".." in stored.parts:
                raise NotFound("not_found", "no such document")
            path = uploads_dir / stored
            try:
                content = await anyio.Path(path).read_bytes()
            except FileNotFoundError as exc:
                raise NotFound("not_found", "the document's file is missing") from exc
            return document, content
    raise NotFound("not_found", "no such document")
