"""What a share link's copy of a package leaves out: IP addresses and exact locations.

A package made for a share link (unless its owner opted in) is a package of its own, built and
sealed like the owner's (so ``timeseal verify`` accepts it), from the same items with:

- every custody entry's ``client_ip`` replaced by :data:`WITHHELD` (the owner's upload and
  download addresses, and earlier viewers' ones);
- in the capture metadata, every value under a key of :data:`PRIVATE_KEYS`, at any depth,
  replaced by :data:`WITHHELD` (the recording's client IP, the location, however a client
  spelled it);
- a ``withheld`` object in the capture metadata naming what was withheld and why, so whoever
  reads the manifest knows the copy is not the whole record.

An exact location is withheld whole, not coarsened to a city: turning coordinates into a city
needs a geocoder (a third party, or a database we would have to keep current), rounding them
still pins a person in a village, and a free-text address cannot be cut safely. The owner's own
package keeps everything; a court that needs the location gets it from the owner, or through a
link made with the opt-in.

The item's bytes are evidence and are never changed: what the file itself holds (EXIF in a
photo, addresses in a web archive's HTTP records) stays in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from timeseal.core.package import JSONObject, JSONValue

#: What replaces a withheld value.
WITHHELD = "withheld"

#: Capture-metadata keys (any depth) whose values are IP addresses or exact locations.
PRIVATE_KEYS = frozenset(
    {
        "client_ip",
        "ip",
        "ip_address",
        "remote_ip",
        "remote_addr",
        "public_ip",
        "x_forwarded_for",
        "location",
        "geolocation",
        "gps",
        "coordinates",
        "coords",
        "latitude",
        "longitude",
        "lat",
        "lon",
        "lng",
    }
)

REASON = (
    "IP addresses and exact locations are withheld from this copy, made for a share link; "
    "the owner's own package holds them. / 本副本为分享链接生成，已隐去 IP 地址和精确位置；"
    "证据所有者的证据包中保留完整信息。"
)


def withhold_capture(capture: JSONObject) -> JSONObject:
    """``capture`` with every private value replaced, and a ``withheld`` object saying which
    (``fields``: their paths, plus the custody entries' ``client_ip``) and why."""
    paths: list[str] = []
    cleaned = _clean(capture, "", paths)
    if not isinstance(cleaned, Mapping):
        raise AssertionError("_clean turned an object into something else")
    fields: list[JSONValue] = [*sorted(set(paths)), "custody[].client_ip"]
    return {**cleaned, "withheld": {"fields": fields, "reason": REASON}}


def withhold_custody(entries: Iterable[JSONObject]) -> tuple[JSONValue, ...]:
    """The custody entries with their ``client_ip`` withheld."""
    return tuple({**e, "client_ip": WITHHELD} for e in entries)


def _clean(value: JSONValue, path: str, paths: list[str]) -> JSONValue:
    if isinstance(value, Mapping):
        out: dict[str, JSONValue] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key.lower() in PRIVATE_KEYS and item is not None:
                out[key] = WITHHELD
                paths.append(where)
            else:
                out[key] = _clean(item, where, paths)
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_clean(item, f"{path}[]", paths) for item in value]
    return value
