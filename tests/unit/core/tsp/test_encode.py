"""The fast template encoder is byte-identical to the asn1crypto reference encoder."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.pki import DeterministicSigner, PKIFixture, make_pki
from timeseal.core.digest import HashAlgorithm
from timeseal.core.signers import SignatureAlgorithm
from timeseal.core.tsp._encode import ReferenceEncoder, TemplateEncoder, TokenFields
from timeseal.core.tsp.authority import token_profile
from timeseal.core.tsp.request import build_request
from timeseal.core.tsp.response import Accuracy

PKI: PKIFixture = make_pki()
SIGNER = DeterministicSigner(PKI.tsa.key)  # type: ignore[arg-type]

accuracies = st.one_of(
    st.none(),
    st.builds(
        Accuracy,
        seconds=st.integers(0, 3600),
        millis=st.integers(0, 999),
        micros=st.integers(0, 999),
    ),
)
policies = st.lists(st.integers(0, 2**70), min_size=1, max_size=6).map(
    lambda arcs: "1.2." + ".".join(map(str, arcs))
)
gen_times = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(9999, 12, 31),
    timezones=st.just(dt.UTC),
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@st.composite
def token_fields(draw: st.DrawFn) -> TokenFields:
    algorithm = draw(st.sampled_from(list(HashAlgorithm)))
    imprint = draw(st.binary(min_size=algorithm.digest_size, max_size=algorithm.digest_size))
    request = build_request(
        imprint,
        algorithm,
        nonce=draw(st.one_of(st.none(), st.integers(0, 2**160 - 1))),
        cert_req=draw(st.booleans()),
    )
    return TokenFields(
        request=request,
        policy=draw(policies),
        gen_time=draw(gen_times),
        serial_number=draw(st.integers(1, 2**159 - 1)),
    )


@settings(max_examples=300, deadline=None)
@given(fields=token_fields(), accuracy=accuracies, with_root=st.booleans())
def test_template_encoder_matches_asn1crypto(
    fields: TokenFields, accuracy: Accuracy | None, with_root: bool
) -> None:
    chain = PKI.chain if with_root else PKI.chain[:1]
    profile = token_profile(chain, SignatureAlgorithm.ECDSA_SHA256, accuracy)
    fast = TemplateEncoder(profile).token(fields, SIGNER.sign)
    reference = ReferenceEncoder(profile).token(fields, SIGNER.sign)
    assert fast == reference


def test_tlv_length_forms_match_asn1crypto() -> None:
    from asn1crypto import core as asn1_core

    from timeseal.core.tsp._encode import _tlv

    for n in (0, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000):
        content = b"\x01" * n
        assert _tlv(0x04, content) == asn1_core.OctetString(content).dump()
