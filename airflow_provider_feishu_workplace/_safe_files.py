"""Open files in folders other users may write to without being tricked into following their links.

A file with a predictable name in a shared folder (the shared rate limit's pace files, a temp file next to
an output) is a target: another user can plant a symlink or a file of theirs under that name before we
open it. So such a file is opened relative to the folder's descriptor, never through a link
(``O_NOFOLLOW``), created exclusively with owner-only permissions (``O_CREAT | O_EXCL``, 0600), and then
checked on its descriptor (``fstat``): a regular file, ours, with one name. A folder other users can
write to is refused unless it is sticky (``chmod +t``, as ``/tmp``), where nobody can rename or delete
another user's file.
"""

from __future__ import annotations

import os
import stat

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

_OPEN = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def private_folder(folder: str) -> None:
    """Create ``folder`` (owner-only) if missing; raise unless files in it can be opened safely.

    :param folder: an absolute folder.
    """
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as error:
        raise FeishuConfigError(f"The folder {folder!r} cannot be created ({error.strerror}).") from error
    descriptor = _open_folder(folder)
    os.close(descriptor)


def open_shared_file(folder: str, name: str) -> int:
    """Open (creating it 0600 if missing) the file ``name`` in ``folder`` for reading and writing; return its fd.

    Never follows a link at ``name``; raises :class:`FeishuConfigError` when ``name`` is a link, a folder,
    not a regular file, another user's file, has more than one name (a hard link), or the folder is one
    other users can write to without the sticky bit.
    """
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"{name!r} is not a file name")
    where = os.path.join(folder, name)
    folder_fd = _open_folder(folder)
    try:
        try:
            descriptor = os.open(name, _OPEN | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=folder_fd)
        except FileExistsError:
            try:
                descriptor = os.open(name, _OPEN, dir_fd=folder_fd)
            except OSError as error:
                raise FeishuConfigError(
                    f"{where} is not a file this process may use ({error.strerror}): a symbolic link or a folder "
                    "was put under its name. Remove it, and keep the folder writable by its owner only."
                ) from error
    finally:
        os.close(folder_fd)
    try:
        _check_own_file(descriptor, where)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def check_folder(folder: str) -> None:
    """Raise unless files can be created safely in the existing ``folder`` (see :func:`open_shared_file`)."""
    os.close(_open_folder(folder))


def _open_folder(folder: str) -> int:
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise FeishuConfigError(f"The folder {folder!r} cannot be opened ({error.strerror}).") from error
    info = os.fstat(descriptor)
    others_write = info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if others_write and not info.st_mode & stat.S_ISVTX:
        os.close(descriptor)
        raise FeishuConfigError(
            f"The folder {folder!r} can be written by other users (mode {stat.filemode(info.st_mode)}, owner uid "
            f"{info.st_uid}) and is not sticky: they could replace the files this provider keeps there. Use a "
            "folder only this user can write to, or make it sticky (chmod +t) like /tmp."
        )
    return descriptor


def _check_own_file(descriptor: int, where: str) -> None:
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        raise FeishuConfigError(f"{where} is not a regular file: remove it.")
    if info.st_uid != os.geteuid():
        raise FeishuConfigError(
            f"{where} belongs to another user (uid {info.st_uid}): remove it, or use a folder only this user "
            "can write to."
        )
    if info.st_nlink != 1:
        raise FeishuConfigError(f"{where} has {info.st_nlink} names (a hard link was made to it): remove it.")
    if info.st_mode & 0o077:
        os.fchmod(descriptor, 0o600)
