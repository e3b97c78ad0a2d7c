"""The files of a model folder come from inside that folder: a symbolic link out of it is refused.

A model or tokenizer folder may come from anywhere (a download, a shared run folder, an archive), and
a link in it can point at any file of the machine: ``model.safetensors -> /home/you/other/weights``
would load someone else's weights under this folder's name, ``vocab.txt -> /etc/passwd`` would be read
as a vocabulary. So tinyllm follows a link found in a folder only when its target is inside that same
folder (a link ``model.safetensors -> weights/v2.safetensors`` is fine), with one exception: the
Hugging Face hub cache, where every file of ``<repo>/snapshots/<revision>/`` is a link into
``<repo>/blobs/`` (what ``huggingface_hub.snapshot_download`` returns). Anything else is a ValueError
that names the link and its target. A path the user gives directly (``load_tokenizer("tok.json")``)
is the user's choice and is followed: the policy is about what tinyllm finds by name in a folder.
"""

import os


def folder_file(folder, name, what="file"):
    """``os.path.join(folder, name)``, after checking that it does not lead out of ``folder``.

    ``name`` must be a plain file name inside the folder (no absolute path, no ``..``). When the
    path is a symbolic link (or passes through one), its target must lie inside the folder, or in the
    ``blobs`` folder of a Hugging Face hub cache snapshot. The path need not exist.
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, name)
    if os.path.isabs(name) or os.pardir in name.replace("\\", "/").split("/"):
        raise ValueError(f"{what} {name!r} is not a file name inside the folder {folder!r}; refusing to "
                         f"read outside it")
    if not os.path.lexists(path):
        return path
    root = os.path.realpath(folder)
    target = os.path.realpath(path)
    if _inside(target, root) or _inside(target, _hub_blobs(root)):
        return path
    raise ValueError(f"{what} {path!r} is a symbolic link to {target!r}, outside the folder {folder!r}; "
                     f"tinyllm reads a folder's files only from inside it (copy the file into the "
                     f"folder instead of linking it)")


def _inside(path, root):
    if root is None:
        return False
    try:
        return os.path.commonpath([path, root]) == root and path != root
    except ValueError:                   # different drives (Windows)
        return False


def _hub_blobs(root):
    """``<repo>/blobs`` when ``root`` is ``<repo>/snapshots/<revision>`` of a Hugging Face hub cache."""
    snapshots = os.path.dirname(root)
    if os.path.basename(snapshots) != "snapshots":
        return None
    blobs = os.path.join(os.path.dirname(snapshots), "blobs")
    return os.path.realpath(blobs) if os.path.isdir(blobs) else None
