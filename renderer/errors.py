"""Typed errors raised by the library; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class RendererError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 1


class CheckpointError(RendererError):
    """A checkpoint is missing, unreadable, unsafe or not a StyleGAN2 generator.

    The file is the user's input, so this is bad input (exit 2) whether the CLI named it or a script did.
    """

    exit_code = 2


class UnsafeCheckpointError(CheckpointError):
    """A pickle asked for a global that real checkpoints never use; nothing was executed."""


class UsageError(RendererError):
    """An argument is malformed (a seed list, a precision name, ...)."""

    exit_code = 2


class EncoderError(RendererError):
    """ffmpeg failed or an output cannot be written."""

    exit_code = 1


class AudioError(RendererError):
    """An audio file is missing, not audio, silent, or too short for what it drives."""

    exit_code = 2
