"""Pydantic models of the NSW documents and of a dossier, read from already-validated XML.

Field names are the XML element names, so the mapping file names NSW fields as they are
written. envelope.xsd has judged every value before a model is built; the models add types
(int codes, dates, 0/1 flags as bool) and xs:token whitespace collapsing. Values stay as
written where the portal copies them ("as written": tonnage, quantity, times).

Lists are built in one pass over the element's children and validated in one pydantic-core
call per list (a TypeAdapter), which keeps a 10,000-passenger list cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar, TypeVar

from lxml import etree
from pydantic import AfterValidator, BaseModel, ConfigDict, InstanceOf, TypeAdapter

from nsw_adapter.envelope import Header


def _collapse(value: str) -> str:
    """xs:token's inner collapse: tab, CR and LF are spaces, runs of spaces one (NBSP is not white space)."""
    if "  " in value or "\t" in value or "\n" in value or "\r" in value:  # rare: skip the work otherwise
        value = value.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        value = " ".join(part for part in value.split(" ") if part)
    return value


#: Codes, numbers and identifiers: the schema's patterns allow no inner whitespace, so trimming
#: (done in pydantic-core by str_strip_whitespace) is all of xs:token that applies. (That trim
#: also takes Unicode spaces such as NBSP off the ends of free text, which xs:token would keep.)
Token = str
#: Free text (names, places, descriptions): runs of whitespace fold to one space, as xs:token does.
Text = Annotated[str, AfterValidator(_collapse)]


class NswModel(BaseModel):
    """Base of the NSW document models: immutable, trimmed, no unknown fields."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, extra="forbid")


class CrewMember(NswModel):
    """One CrewList element of a Crew List (FAL 5)."""

    CrewCode: int
    FamilyName: Text
    GivenName: Text = ""
    RankCode: Token
    Nationality: Token
    DateOfBirth: date
    PlaceOfBirth: Text
    Gender: Token
    PassportTypeCode: Token
    PassportNumber: Token
    PassportIssuingState: Token
    PassportExpiryDate: date
    VisaNumber: Token | None = None
    GoAshore: bool


class Passenger(NswModel):
    """One Passenger element of a Passenger List (FAL 6)."""

    PassengerCode: int
    FamilyName: Text
    GivenName: Text = ""
    Nationality: Token
    DateOfBirth: date
    PlaceOfBirth: Text
    Gender: Token
    TypeOfIdentity: Token
    SerialNumberOfIdentity: Token
    IdentityIssuingState: Token
    IdentityExpiryDate: date
    VisaNumber: Token | None = None
    PortOfEmbarkationCode: Token
    PortOfDisembarkationCode: Token
    IsTransit: bool
    GoAshore: bool


class ArmsItem(NswModel):
    """One Item of an Arms Declaration."""

    ItemCode: int
    Kind: Token
    Description: Text
    Quantity: Token
    Unit: Token
    StorageLocation: Text


class Stowaway(NswModel):
    """One Stowaway of a Stowaway Declaration: whatever is known of the person."""

    StowawayCode: int
    FamilyName: Text | None = None
    GivenName: Text | None = None
    Nationality: Token | None = None
    EstimatedAge: int | None = None
    PortOfBoardingCode: Token | None = None
    DateFound: date
    Remarks: Text | None = None


class GeneralDeclaration(NswModel):
    """Type 50: the General Declaration (FAL 1)."""

    TYPE: ClassVar[str] = "50"

    IsArrival: bool
    NameOfShip: Text
    TypeOfShipCode: Token
    IMONumber: Token
    CallSign: Token
    MMSI: Token | None = None
    VoyageNumber: Text
    FlagStateOfShip: Token
    GrossTonnage: Token
    NetTonnage: Token
    PortOfCallCode: Token
    ArrivalOrDepartureTime: Token
    LastPortOfCallCode: Token
    NextPortOfCallCode: Token
    PositionOfShipInPort: Text | None = None
    PurposeOfCallCode: Token
    NameOfMaster: Text
    NumberOfCrew: int
    NumberOfPassengers: int
    ArmsOnBoard: bool
    NumberOfStowaways: int
    ShipAgentName: Text
    ShipAgentTaxCode: Token
    ShipAgentPhone: Text
    ShipAgentEmail: Token | None = None
    Remarks: Text | None = None
    SignPlace: Text
    SignDate: date


# Aliases: a list field is named like its item class (Passenger, Stowaway) and would shadow it.
_PassengerItem = Passenger
_StowawayItem = Stowaway


class _ShipIdentification(NswModel):
    IsArrival: bool
    NameOfShip: Text
    IMONumber: Token
    CallSign: Token
    VoyageNumber: Text
    PortOfCallCode: Token


class CrewLists(_ShipIdentification):
    """Type 51: the Crew List (FAL 5), master first."""

    TYPE: ClassVar[str] = "51"

    CrewList: tuple[CrewMember, ...] = ()


class PassengerList(_ShipIdentification):
    """Type 52: the Passenger List (FAL 6)."""

    TYPE: ClassVar[str] = "52"

    Passenger: tuple[_PassengerItem, ...] = ()


class ArmsDeclaration(NswModel):
    """Type 64: arms, ammunition and explosives on board."""

    TYPE: ClassVar[str] = "64"

    IMONumber: Token
    Item: tuple[ArmsItem, ...] = ()


class StowawayDeclaration(NswModel):
    """Type 65: stowaways found on board."""

    TYPE: ClassVar[str] = "65"

    IMONumber: Token
    Stowaway: tuple[_StowawayItem, ...] = ()


class Cancellation(NswModel):
    """Function 03: withdraws the whole dossier."""

    Reason: Text


Document = GeneralDeclaration | CrewLists | PassengerList | ArmsDeclaration | StowawayDeclaration

#: Content element name -> its model, and the repeated child each list document holds.
DOCUMENT_MODELS: dict[str, type[NswModel]] = {
    "GeneralDeclaration": GeneralDeclaration,
    "CrewLists": CrewLists,
    "PassengerList": PassengerList,
    "ArmsDeclaration": ArmsDeclaration,
    "StowawayDeclaration": StowawayDeclaration,
    "Cancellation": Cancellation,
}


@dataclass(frozen=True, slots=True)
class _ListReader:
    """How to read one list document's repeated element quickly.

    The schema has fixed the order of an item's children (xs:sequence), so when an item model
    has at most one optional field, the number of children says which keys they carry and no
    tag needs reading (a third of the cost on a 10,000-passenger list).
    """

    item_tag: str
    adapter: TypeAdapter[Any]
    keys: dict[int, tuple[str, ...]]  # number of children -> their field names, in order

    @classmethod
    def of(cls, item_tag: str, model: type[NswModel]) -> _ListReader:
        names = tuple(model.model_fields)
        optional = [n for n, f in model.model_fields.items() if not f.is_required() and n != "GivenName"]
        keys = {len(names): names}
        if len(optional) == 1:
            keys[len(names) - 1] = tuple(n for n in names if n != optional[0])
        elif optional:
            keys = {}  # several optional fields: read the tags
        return cls(item_tag, TypeAdapter(tuple[model, ...]), keys)  # type: ignore[valid-type]


_LISTS: dict[str, _ListReader] = {
    "CrewLists": _ListReader.of("CrewList", CrewMember),
    "PassengerList": _ListReader.of("Passenger", Passenger),
    "ArmsDeclaration": _ListReader.of("Item", ArmsItem),
    "StowawayDeclaration": _ListReader.of("Stowaway", Stowaway),
}
_HAS_COMMENT = etree.XPath("boolean(.//comment())")

M = TypeVar("M", bound=NswModel)


def _fields(element: etree._Element) -> dict[str, Any]:
    # Comments are skipped by the tag filter; an empty element (GivenName) reads as "".
    return {child.tag: child.text or "" for child in element.iterchildren(etree.Element)}


def read_document(content: etree._Element) -> NswModel:
    """The model of one Content document element (already valid against envelope.xsd).

    Raises pydantic.ValidationError only for what the schema lets through and the model
    cannot hold; callers report it without echoing values (they may be personal data).
    """
    model = DOCUMENT_MODELS[content.tag]
    reader = _LISTS.get(content.tag)
    if reader is None:
        return model.model_validate(_fields(content))
    item_tag = reader.item_tag
    # Positions are only safe without comments among the children (PIs the parser drops).
    keys = reader.keys if reader.keys and not _HAS_COMMENT(content) else None
    head: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    for child in content.iterchildren(etree.Element):
        if child.tag != item_tag:
            head[child.tag] = child.text or ""
        elif keys is not None:
            texts = [field.text or "" for field in child]
            names = keys.get(len(texts))
            items.append(_fields(child) if names is None else dict(zip(names, texts, strict=True)))
        else:
            items.append(_fields(child))
    head[item_tag] = reader.adapter.validate_python(items)
    return model.model_validate(head)


class DocumentInEffect(BaseModel):
    """One NSW document of the dossier as it stands: its envelope header and its model."""

    model_config = ConfigDict(frozen=True)

    header: InstanceOf[Header]
    document: InstanceOf[NswModel]  # kept as given: never revalidated

    @property
    def type(self) -> str:
        return self.header.type or ""


class Dossier(BaseModel):
    """The documents of one dossier in effect (per type, the latest 01/02 by sendDate)."""

    model_config = ConfigDict(frozen=True)

    reference: str
    document_type: str  # "1" arrival (entry), "2" departure (exit)
    documents: dict[str, DocumentInEffect]  # keyed by NSW type: "50", "51", ...

    def get(self, model: type[M]) -> M | None:
        """The document of that model's type, if it is in the dossier."""
        entry = self.documents.get(getattr(model, "TYPE", ""))
        if entry is None:
            return None
        document = entry.document
        return document if isinstance(document, model) else None

    @property
    def general_declaration(self) -> GeneralDeclaration | None:
        return self.get(GeneralDeclaration)

    @property
    def crew_lists(self) -> CrewLists | None:
        return self.get(CrewLists)

    @property
    def passenger_list(self) -> PassengerList | None:
        return self.get(PassengerList)

    @property
    def arms_declaration(self) -> ArmsDeclaration | None:
        return self.get(ArmsDeclaration)

    @property
    def stowaway_declaration(self) -> StowawayDeclaration | None:
        return self.get(StowawayDeclaration)
