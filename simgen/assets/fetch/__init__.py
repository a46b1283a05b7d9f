"""``simgen fetch``: download assets once into a local library (:mod:`simgen.assets.library`).

Sources (each from its own public API; ``--api-url`` points one at a mirror or a test server):

- ``polyhaven hdris|textures|models`` (https://api.polyhaven.com: ``/assets?t=TYPE&c=CATS``,
  ``/files/ID`` with ``url``, ``size`` and ``md5`` per file); CC0. Every call sends the
  User-Agent ``simgen/<version> (+asset fetcher)``, as the API's terms ask.
- ``ambientcg materials`` (https://ambientcg.com/api/v2/full_json with
  ``include=downloadData``: one zip per resolution and format, ``1K-JPG`` ...,
  with its size); CC0.
- ``gso models``: Google Scanned Objects on Gazebo Fuel
  (https://fuel.gazebosim.org/1.0/GoogleResearch/models, one zip per model); CC-BY 4.0, the
  attribution recorded in each entry.

Only the standard library is used (urllib, zipfile, hashlib, concurrent.futures). Nothing
else in simgen downloads: rendering reads the folder.

Behaviour: a file is downloaded to ``NAME.part`` in its entry folder (an interrupted one is
continued with an HTTP Range request), checked (size, md5 where the API gives them; zips
by their CRCs while unpacking) and renamed; an asset whose entry.json is there and whose
files have their recorded sizes is skipped. A corrupt or truncated download is deleted and
reported in one line; the run goes on with the other assets and ends with a non-zero status.

The package, by concern: :mod:`.plan` (the data types and :class:`FetchFailed`),
:mod:`.client` (the HTTP client), :mod:`.base` (the :class:`Source` base class), one module per
source (:mod:`.polyhaven`, :mod:`.ambientcg`, :mod:`.gso`), :mod:`.sources` (:data:`SOURCES`
and the request checks) and :mod:`.driver` (:func:`fetch`, the run).
"""

from simgen.assets.fetch.ambientcg import AmbientCG
from simgen.assets.fetch.base import Source
from simgen.assets.fetch.driver import Summary, fetch
from simgen.assets.fetch.gso import CC_BY_URL, GSO, pbtxt_categories
from simgen.assets.fetch.client import RETRIES, TIMEOUT, USER_AGENT, Http
from simgen.assets.fetch.plan import Candidate, FetchFailed, FileSpec, Plan, Request
from simgen.assets.fetch.polyhaven import PolyHaven
from simgen.assets.fetch.sources import SOURCES, check_request, library_kind

__all__ = [
    "AmbientCG", "CC_BY_URL", "Candidate", "FetchFailed", "FileSpec", "GSO", "Http", "Plan", "PolyHaven",
    "RETRIES", "Request", "SOURCES", "Source", "Summary", "TIMEOUT", "USER_AGENT", "check_request", "fetch",
    "library_kind", "pbtxt_categories",
]
