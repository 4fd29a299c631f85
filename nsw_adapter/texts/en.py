"""The English catalogue: every agent-facing text by key, and the words the texts share.

Templates are str.format strings over the Problem's parameters; a parameter written `@word`
is the word of that key in WORDS. Offending values appear only where they are not personal
data (codes, IMO numbers, ports, counts, ship dates); names, document numbers and dates of
birth are never parameters.
"""

# ruff: noqa: E501  # a text is kept on one line where it fits, so that it can be searched for whole

from __future__ import annotations

_LOCODE_FORM = (
    "5 characters: two capital letters for the country, then three capital letters or digits 2-9 (e.g. VNHPH)"
)
_COUNTRY_FORM = "an ISO 3166-1 code, two capital letters (e.g. VN)"
_PERSON_COUNTRY_FORM = f"{_COUNTRY_FORM}, or XXA, XXB, XXC or XXX"
_SEQUENCE_FORM = "the codes of a list are 1 to {n}, each once, in any order"

MESSAGES: dict[str, str] = {
    # --- business rules (rules.py) ---
    "E-MISMATCH.imo": "the {document}'s IMONumber {value} differs from the dossier's {expected}",
    "E-MISMATCH.document_type": (
        "the {document}'s documentType {value} differs from the General Declaration's {expected} "
        "(1 arrival, 2 departure)"
    ),
    "E-MISMATCH.is_arrival": "the {document}'s IsArrival says {found} but documentType says {event}",
    "E-MISMATCH.port": "the {document}'s port of call {value} differs from the General Declaration's {expected}",
    "E-IMO": (
        "the {document}'s IMO number {value} fails its check digit: an IMO number is 7 digits, the last "
        "being the last digit of the sum of digits 1-6 times 7, 6, 5, 4, 3, 2"
    ),
    "E-PORT": "the port of call {value} is not a seaport border gate: expected one of {gates}",
    "E-LOCODE": "the {document}'s {port} {value} is not a well-formed UN/LOCODE: " + _LOCODE_FORM,
    "E-LOCODE.item": (
        "the {document}'s {noun} {index}'s {port} {value} is not a well-formed UN/LOCODE: " + _LOCODE_FORM
    ),
    "E-COUNTRY.flag": "the flag state {value} is not " + _COUNTRY_FORM,
    "E-COUNTRY.nationality": "{noun} {index}'s nationality {value} is not " + _PERSON_COUNTRY_FORM,
    "E-COUNTRY.issuer": "{noun} {index}'s document issuer {value} is not " + _PERSON_COUNTRY_FORM,
    "E-COUNT": "{field} is {declared} but {listed} {noun} are listed",
    "E-SEQ.repeat": "{noun} {index}'s {field} {value} repeats an earlier one: " + _SEQUENCE_FORM,
    "E-SEQ.beyond": "{noun} {index}'s {field} {value} is beyond 1..{n}: " + _SEQUENCE_FORM,
    "E-SEQ.missing": "the {document} lacks {field} {missing} of 1..{n}: " + _SEQUENCE_FORM,
    "E-MASTER.empty": "the Crew List lists no master: its first crew member must be the master (RankCode MAS)",
    "E-MASTER.rank": (
        "the first crew member's RankCode is {value}: the first crew member must be the master (RankCode MAS)"
    ),
    "E-MASTER.name": (
        "NameOfMaster differs from the name of the master on the Crew List (compared without case, "
        "accents or extra spaces)"
    ),
    "E-DOC-EXPIRED": "{noun} {index}'s {kind} expires before the {event} ({date}): it must be valid on that day",
    "E-DOB.future": "{noun} {index}'s date of birth is in the future (after {today})",
    "E-DOB.too_old": "{noun} {index}'s date of birth is more than 120 years back (before {oldest})",
    "E-TAXCODE": (
        "the ship agent's tax code {value} is not a valid MST: 10 digits, the last being the check digit "
        "of the first nine, optionally followed by - and a 3-digit branch number (e.g. 0100109106-001)"
    ),
    "E-DUP-DOC": "{noun} {index} carries the same {kind} (type, number and issuing state) as {holder} {holder_index}",
    "E-INCOMPLETE.called_for": "{field} calls for the {document}, which has not arrived",
    "E-INCOMPLETE.not_arrived": "the {document} has not arrived",
    "E-INCOMPLETE.empty": "the dossier holds no message",
    "E-INCOMPLETE.deadline": "the {document} has not arrived within the dossier's deadline",
    "E-INCOMPLETE.deadline_called_for": (
        "the General Declaration calls for the {document}, which has not arrived within the dossier's deadline"
    ),
    "E-UNKNOWN-DOSSIER": "no such dossier has been received: an amendment or cancellation needs its documents first",
    "E-UNKNOWN-DOSSIER.reference": (
        "no dossier {reference} has been received: an amendment or cancellation needs its documents first"
    ),
    # --- the schema (envelope.xsd), rewritten from libxml2's messages (texts/schema.py) ---
    "E-SCHEMA.form": "{field} {value} is not in the expected form: {form}",
    "E-SCHEMA.form_hidden": "{field} is not in the expected form: {form}",
    "E-SCHEMA.choice": "{field} {value} is not one of the allowed values: {allowed}",
    "E-SCHEMA.choice_hidden": "{field} is not one of the allowed values: {allowed}",
    "E-SCHEMA.too_long": "{field} is {length} characters long, longer than the {limit} allowed",
    "E-SCHEMA.too_short": "{field} is {length} characters long, shorter than the {limit} required",
    "E-SCHEMA.wrong_length": "{field} is {length} characters long where exactly {limit} are required",
    "E-SCHEMA.too_small": "{field} {value} is below the minimum of {limit}",
    "E-SCHEMA.too_large": "{field} {value} is above the maximum of {limit}",
    "E-SCHEMA.type": "{field} {value} is not {form}",
    "E-SCHEMA.type_hidden": "{field} is not {form}",
    "E-SCHEMA.unexpected": "{field} is not expected here; expected: {expected}",
    "E-SCHEMA.unexpected_end": "{field} is not expected here: nothing more may follow",
    "E-SCHEMA.missing": "{field} lacks a required field; expected: {expected}",
    "E-SCHEMA.text_not_allowed": "{field} holds text where it should hold only fields",
    "E-SCHEMA.attribute": "{field} carries the attribute {attribute}, which is not allowed",
    "E-SCHEMA.other": "{field} does not fit the NSW schema",
    "E-SCHEMA.calendar": "{field} {value} is not a calendar time in Vietnam's range",
    "E-SCHEMA.model": "{field} is not valid ({error})",
    "E-SCHEMA.portal": (
        "the portal would refuse the submission: its {field}, made from this field, does not fit the portal's schema"
    ),
    # --- the envelope (envelope.py, xml.py, intake.py) ---
    "E-ENVELOPE.too_large": "the message of {size} bytes (its Content-Length) is over the limit of {limit} bytes",
    "E-ENVELOPE.too_large_read": "the message is over the limit of {limit} bytes (reading stopped after {size} bytes)",
    "E-ENVELOPE.doctype": "a DOCTYPE or entity declaration is not allowed",
    "E-ENVELOPE.attributes": "an element has more than {limit} attributes",
    "E-ENVELOPE.schema_hint": "an xsi schema-location hint is not allowed",
    "E-ENVELOPE.too_deep": "the document is nested deeper than {limit} levels",
    "E-ENVELOPE.long_name": "a name is longer than {limit} characters",
    "E-ENVELOPE.long_text": "a text node is over the limit of {limit} bytes",
    "E-ENVELOPE.not_xml": "the message is not well-formed XML (line {line}, column {column}): {problem}",
    "E-ENVELOPE.unreadable": "the message cannot be read as XML in its declared encoding",
    "E-ENVELOPE.misdecoded": (
        "the message holds U+FFFD replacement characters: its bytes did not match their declared encoding"
    ),
    "E-ENVELOPE.root": "the root element is {value}, not Envelope",
    "E-ENVELOPE.send_date": "sendDate {value} is not a calendar time: expected yyyy-MM-dd HH:mm:ss, Vietnam local time",
    "E-ENVELOPE.not_from_nsw": "the message is not from the NSW: From/identity must be NSW",
    "E-ENVELOPE.not_to_bqp": "the message is not addressed to BQP: To/identity must be BQP",
    "E-ENVELOPE.missing": "{field} is missing",
    "E-ENVELOPE.document_type": "documentType {value} is neither 1 (arrival) nor 2 (departure)",
    "E-ENVELOPE.type": "type {value} is not a document the NSW sends: expected 50, 51, 52, 64 or 65",
    "E-ENVELOPE.function": "function {value} is not 01 (new), 02 (amendment) or 03 (cancellation)",
    "E-ENVELOPE.cancellation_type": "a cancellation must have type 50, not {value}",
    "E-ENVELOPE.content": "Content holds {found}, but type {type} function {function} calls for {expected}",
    "E-ENVELOPE.required": "documentType, type and reference are required",
    "E-ENVELOPE.other_dossier": "the message belongs to another dossier",
    # --- signatures (signature.py): the reason is the verifier's technical detail ---
    "E-SIGNATURE.missing": "the message is not signed; signed declarations are required",
    "E-SIGNATURE.failed": "the signature does not verify: {reason}",
    # --- more than an answer lists (errors.listed) ---
    "more": "{count} more problems ({codes}) are not listed: one answer lists at most {limit}",
}

WORDS: dict[str, str] = {
    "doc.50": "General Declaration",
    "doc.51": "Crew List",
    "doc.52": "Passenger List",
    "doc.64": "Arms Declaration",
    "doc.65": "Stowaway Declaration",
    "noun.crew": "crew member",
    "noun.passenger": "passenger",
    "noun.stowaway": "stowaway",
    "noun.arms": "arms item",
    "plural.crew": "crew members",
    "plural.passenger": "passengers",
    "plural.stowaway": "stowaways",
    "kind.P": "passport",
    "kind.S": "seafarer's identity document",
    "kind.B": "seaman's book",
    "kind.other": "identity document",
    "event.arrival": "arrival",
    "event.departure": "departure",
    "port.PortOfCallCode": "port of call",
    "port.LastPortOfCallCode": "last port of call",
    "port.NextPortOfCallCode": "next port of call",
    "port.PortOfEmbarkationCode": "port of embarkation",
    "port.PortOfDisembarkationCode": "port of disembarkation",
    "port.PortOfBoardingCode": "port of boarding",
    "nothing": "nothing",
    # Expected forms of envelope.xsd's patterns and types (texts/schema.py).
    "form.digits7": "7 digits",
    "form.digits9": "9 digits",
    "form.year": "a year of 4 digits",
    "form.date": "a date written yyyy-MM-dd",
    "form.local_time": "a local time written yyyy-MM-dd HH:mm:ss",
    "form.time": "a time written yyyy-MM-dd HH:mm:ss, optionally followed by Z or an offset such as +07:00",
    "form.taxcode": "10 digits, optionally followed by - and a 3-digit branch number",
    "form.locode": _LOCODE_FORM,
    "form.country": _COUNTRY_FORM,
    "form.person_country": _PERSON_COUNTRY_FORM,
    "form.station": "CKC followed by three capital letters (a border gate station code)",
    "form.reference": "capital letters, digits, / and -, starting with a letter or digit",
    "form.message_id": "letters, digits and -, at most 50, starting with a letter or digit",
    "form.code": "capital letters, digits, _ and -",
    "form.short_code": "3 to 8 capital letters or digits",
    "form.letters": "text containing at least one letter",
    "form.email": "an e-mail address (name@domain)",
    "form.phone": "a telephone number: digits, spaces, ( ) . and -, optionally starting with +",
    "form.text": "letters, digits and common punctuation, starting with a letter or digit",
    "form.xpath": "an XPath starting with /",
    "form.integer": "a whole number",
    "form.positive": "a whole number of 1 or more",
    "form.non_negative": "a whole number of 0 or more",
    "form.decimal": "a number (a dot before any decimals)",
    "form.any": "a value of the expected type",
    # Well-formedness errors (xml.py SYNTAX_KINDS).
    "xml.TAG_NAME_MISMATCH": "an end tag does not match its start tag",
    "xml.TAG_NOT_FINISHED": "an element is not closed",
    "xml.DOCUMENT_END": "there is content after the root element",
    "xml.DOCUMENT_EMPTY": "the message is empty",
    "xml.DOCUMENT_START": "the message does not start with an element",
    "xml.UNDECLARED_ENTITY": "it uses an entity other than XML's five (&amp; &lt; &gt; &quot; &apos;)",
    "xml.ENTITYREF_SEMICOL_MISSING": "an & is not written as &amp;",
    "xml.NAME_REQUIRED": "a name is missing after < or &",
    "xml.LT_IN_ATTRIBUTE": "an attribute value holds a < not written as &lt;",
    "xml.ATTRIBUTE_REDEFINED": "an element repeats an attribute",
    "xml.ATTRIBUTE_WITHOUT_VALUE": "an attribute has no value",
    "xml.INVALID_CHAR": "it holds a character XML does not allow (such as a control character)",
    "xml.INVALID_ENCODING": "its bytes are not valid in its declared encoding",
    "xml.UNSUPPORTED_ENCODING": "its declared encoding is not supported",
    "xml.GT_REQUIRED": "a tag is not closed with >",
    "xml.LTSLASH_REQUIRED": "an end tag is missing",
    "xml.RESERVED_XML_NAME": "an XML declaration stands after the start",
    "xml.other": "the XML is malformed here",
}
