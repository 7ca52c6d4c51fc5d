"""Hospital PACS over DICOMweb: query (QIDO-RS), retrieve (WADO-RS), store (STOW-RS)."""

from app.pacs.client import PacsClient, PacsConfig, PacsError, RetrieveCancelled

__all__ = ["PacsClient", "PacsConfig", "PacsError", "RetrieveCancelled"]
