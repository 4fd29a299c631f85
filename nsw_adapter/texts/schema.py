"""libxml2's schema messages rewritten as plain sentences naming the field, with the expected form.

libxml2 says "Element 'IMONumber': [facet 'pattern'] The value '12a' is not accepted by the
pattern '[0-9]{7}'."; the agent reads "IMONumber 12a is not in the expected form: 7 digits".
The offending value is shown only for fields whose values are not personal data (SAFE_FIELDS:
codes, numbers, ship data, ship dates); a name, document number or date of birth never is. A
message of a shape not known here still names its field, in a sentence of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nsw_adapter.errors import Problem
from nsw_adapter.texts import problem, word

#: Fields whose values may be echoed to the agent: codes, counts, ship data and the ship's dates.
SAFE_FIELDS = frozenset(
    [
        "ArmsOnBoard",
        "ArrivalOrDepartureTime",
        "CallSign",
        "CrewCode",
        "DateFound",
        "FlagStateOfShip",
        "GoAshore",
        "GrossTonnage",
        "IMONumber",
        "IdentityIssuingState",
        "IsArrival",
        "IsTransit",
        "ItemCode",
        "Kind",
        "LastPortOfCallCode",
        "MMSI",
        "NameOfShip",
        "Nationality",
        "NetTonnage",
        "NextPortOfCallCode",
        "NumberOfCrew",
        "NumberOfPassengers",
        "NumberOfStowaways",
        "PassengerCode",
        "PassportIssuingState",
        "PassportTypeCode",
        "PortOfBoardingCode",
        "PortOfCallCode",
        "PortOfDisembarkationCode",
        "PortOfEmbarkationCode",
        "PurposeOfCallCode",
        "Quantity",
        "RankCode",
        "ShipAgentTaxCode",
        "SignDate",
        "StowawayCode",
        "TypeOfIdentity",
        "TypeOfShipCode",
        "Unit",
        "VoyageNumber",
        "countryCode",
        "documentType",
        "documentYear",
        "function",
        "identity",
        "messageId",
        "ministryCode",
        "organizationCode",
        "preReference",
        "reference",
        "sendDate",
        "type",
        "unitCode",
        "version",
    ]
)

#: envelope.xsd's patterns and named types -> the word key of their expected form.
_PATTERN_FORMS: Mapping[str, str] = {
    "[0-9]{7}": "form.digits7",
    "[0-9]{9}": "form.digits9",
    "[0-9]{4}": "form.year",
    "[0-9]{4}-[0-9]{2}-[0-9]{2}": "form.date",
    "[0-9]{10}(-[0-9]{3})?": "form.taxcode",
    "[A-Za-z0-9]{5}": "form.locode",
    "[A-Z]{2}": "form.country",
    "[A-Z]{2}|XX[ABCX]": "form.person_country",
    "CKC[A-Z]{3}": "form.station",
    "[A-Z0-9][A-Z0-9/\\-]*": "form.reference",
    "[A-Z0-9][A-Z0-9/\\-]{0,19}": "form.reference",
    "[A-Za-z0-9][A-Za-z0-9\\-]{0,49}": "form.message_id",
    "[A-Za-z0-9_\\-]{1,50}": "form.code",
    "[A-Z0-9_\\-]{1,20}": "form.code",
    "[A-Z][A-Z0-9_\\-]{0,39}": "form.code",
    "[A-Z0-9]{3,8}": "form.short_code",
    ".*\\p{L}.*": "form.letters",
    "(.*\\p{L}.*)?": "form.letters",
    "[^@\\s]+@[^@\\s]+\\.[^@\\s]+": "form.email",
    "[+]?[0-9][0-9 ().\\-]{5,23}": "form.phone",
    "[A-Za-z0-9][A-Za-z0-9 .,'&/()\\-]*": "form.text",
    "[A-Za-z0-9][A-Za-z0-9 /.\\-]*": "form.text",
    "/.+": "form.xpath",
}
_TYPE_FORMS: Mapping[str, str] = {
    "CountType": "form.non_negative",
    "AgeType": "form.non_negative",
    "SequenceCodeType": "form.positive",
    "TonnageType": "form.decimal",
    "QuantityType": "form.decimal",
    "DateType": "form.date",
    "DocumentYearType": "form.year",
    "xs:integer": "form.integer",
    "xs:nonNegativeInteger": "form.non_negative",
    "xs:positiveInteger": "form.positive",
    "xs:decimal": "form.decimal",
    "xs:date": "form.date",
    "xs:gYear": "form.year",
}
_TIME_FORM = re.compile(r"^\[0-9\]\{4\}-\(0\[1-9\]")  # both date-time patterns start so

_HEAD = re.compile(r"^Element '(?P<field>[^']+)'(?:, attribute '(?P<attribute>[^']+)')?: (?P<rest>.*)$", re.S)
_PATTERN = re.compile(
    r"^\[facet 'pattern'\] The value '(?P<value>.*)' is not accepted by the pattern '(?P<pattern>.*)'\.$",
    re.S,
)
_ENUMERATION = re.compile(
    r"^\[facet 'enumeration'\] The value '(?P<value>.*)' is not an element of the set \{(?P<set>.*)\}\.$",
    re.S,
)
_LENGTH = re.compile(
    r"^\[facet '(?P<facet>maxLength|minLength|length)'\] The value has a length of '(?P<length>\d+)'; "
    r"this (?:exceeds|underruns|differs from) the allowed (?:maximum |minimum )?length of '(?P<limit>\d+)'\.$"
)
_RANGE = re.compile(
    r"^\[facet '(?P<facet>min|max)(?:In|Ex)clusive'\] The value '(?P<value>.*)' is (?:less|greater) than "
    r"(?:or equal to )?the (?:minimum|maximum) value allowed \('(?P<limit>.*)'\)\.$",
    re.S,
)
_TYPE = re.compile(
    r"^'(?P<value>.*)' is not a valid value of the (?:local )?\w+ type(?: '(?P<type>[^']+)')?\.$", re.S
)
_UNEXPECTED = re.compile(
    r"^This element is not expected\.(?: Expected is (?:one of )?\( (?P<expected>.*) \)\.)?$"
)
_MISSING = re.compile(r"^Missing child element\(s\)\. Expected is (?:one of )?\( (?P<expected>.*) \)\.$")
_MAX_ALLOWED = 30  # codes listed in an enumeration's answer


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _names(expected: str) -> str:
    return ", ".join(_local(name.strip()) for name in expected.split(","))


def _form(pattern: str) -> str:
    if pattern in _PATTERN_FORMS:
        return word(_PATTERN_FORMS[pattern])
    if _TIME_FORM.match(pattern):
        return word("form.time" if pattern.endswith("?") else "form.local_time")
    return word("form.any")


def schema_problem(code: str, message: str, xpath: str | None, document_type: str | None) -> Problem:
    """One libxml2 validation message as a Problem of `code` (E-SCHEMA, or E-ENVELOPE outside Content)."""
    head = _HEAD.match(message.strip())
    if head is None:
        field = _local(xpath.rsplit("/", 1)[-1]) if xpath else "Envelope"
        return problem(code, "E-SCHEMA.other", xpath, document_type, field=field)
    field, rest = _local(head["field"]), head["rest"].strip()
    safe = field in SAFE_FIELDS

    def make(key: str, **params: object) -> Problem:
        hidden = f"{key}_hidden"
        if "value" in params and not safe:
            del params["value"]
            key = hidden
        return problem(code, key, xpath, document_type, field=field, **params)

    if head["attribute"] is not None:
        return make("E-SCHEMA.attribute", attribute=head["attribute"])
    if found := _PATTERN.match(rest):
        return make("E-SCHEMA.form", value=found["value"], form=_form(found["pattern"]))
    if found := _ENUMERATION.match(rest):
        allowed = [value.strip().strip("'") for value in found["set"].split(",")]
        shown = ", ".join(allowed[:_MAX_ALLOWED]) + (", …" if len(allowed) > _MAX_ALLOWED else "")
        return make("E-SCHEMA.choice", value=found["value"], allowed=shown)
    if found := _LENGTH.match(rest):
        key = {"maxLength": "too_long", "minLength": "too_short", "length": "wrong_length"}[found["facet"]]
        return make(f"E-SCHEMA.{key}", length=found["length"], limit=found["limit"])
    if found := _RANGE.match(rest):
        key = "E-SCHEMA.too_small" if found["facet"] == "min" else "E-SCHEMA.too_large"
        if not safe:
            return make("E-SCHEMA.other")
        return make(key, value=found["value"], limit=found["limit"])
    if found := _TYPE.match(rest):
        form = word(_TYPE_FORMS.get(found["type"] or "", "form.any"))
        return make("E-SCHEMA.type", value=found["value"], form=form)
    if found := _UNEXPECTED.match(rest):
        if found["expected"] is None:
            return make("E-SCHEMA.unexpected_end")
        return make("E-SCHEMA.unexpected", expected=_names(found["expected"]))
    if found := _MISSING.match(rest):
        return make("E-SCHEMA.missing", expected=_names(found["expected"]))
    if rest.startswith("Character content other than whitespace is not allowed"):
        return make("E-SCHEMA.text_not_allowed")
    return make("E-SCHEMA.other")
