"""A generator of valid NSW dossiers with varied, realistic (invented) data, for tests, the NSW
simulator and benchmarks.

`generate_dossier` returns one envelope per document as (file name, bytes); the dossier
passes envelope.xsd, every business rule and the mapping. The same arguments give the same
bytes. `amend` and `cancel` make the follow-up messages of a dossier (functions 02 and 03).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from lxml import etree
from stdnum import imo as stdnum_imo
from stdnum.vn import mst as stdnum_mst

from nsw_adapter.codelists import codelists
from nsw_adapter.envelope import VIETNAM, format_send_date
from nsw_adapter.mapping.transforms import escape_xml
from nsw_adapter.xml import parse_untrusted

_DOSSIER_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9/\-]{0,39}")
#: Messages of a generated dossier are sent from here on unless `sent_at` says otherwise.
DEFAULT_SENT_AT = datetime(2026, 3, 16, 8, 0, 0, tzinfo=VIETNAM)

# (nationality, place of birth, family names, given names); mononyms have no given names.
_Nation = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_PEOPLE: tuple[_Nation, ...] = (
    (
        "VN",
        ("Hải Phòng", "Nam Định", "Thái Bình", "Hạ Long", "Đà Nẵng", "Huế", "Vinh", "Thanh Hóa"),
        ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý", "Đinh"),
        (
            "Văn Đức",
            "Thị Lan Anh",
            "Minh Quân",
            "Đình Khải",
            "Công Lý",
            "Hoàng Nam",
            "Thị Thu Hà",
            "Quốc Bảo",
        ),
    ),
    (
        "PH",
        ("Manila", "Cebu City", "Iloilo", "Davao"),
        ("Santos", "Reyes", "Dela Cruz", "Bautista", "Mendoza", "Villanueva", "Ibañez"),
        ("Carlo Miguel", "Anthony Joseph", "Maria Luisa", "Jose Rizal", "Ma. Theresa"),
    ),
    (
        "CN",
        ("Shanghai", "Dalian", "Qingdao", "Nanning", "Guilin"),
        ("Zhang", "Wang", "Li", "Liu", "Chen", "Zhao", "Huang", "Zhou"),
        ("Wei", "Jianguo", "Haoran", "Fang", "Jing", "Lei", "Xiu Ying"),
    ),
    (
        "UA",
        ("Odesa", "Mykolaiv", "Kherson", "Izmail"),
        ("Kovalenko", "Bondarenko", "Shevchenko", "Tkachenko"),
        ("Oleksandr Mykolayovych", "Dmytro Ivanovych", "Andriy", "Serhiy Petrovych"),
    ),
    ("RU", ("Владивосток", "Санкт-Петербург"), ("Иванов", "Смирнов", "Кузнецов"), ("Пётр", "Алексей")),
    ("GR", ("Πειραιάς", "Θεσσαλονίκη"), ("Παπαδόπουλος", "Γεωργίου"), ("Νίκος", "Ελένη")),
    (
        "DE",
        ("Hamburg", "Bremen", "Kiel"),
        ("Müller", "Schröder", "Schäfer", "Weiß"),
        ("Klaus-Dieter", "Anke", "Jürgen", "Charlotte"),
    ),
    (
        "IN",
        ("Mumbai", "Kochi", "Goa", "Chennai"),
        ("Sharma", "Iyer", "D'Souza", "Nair"),
        ("Rahul", "Priya", "Anthony", "Lakshmi"),
    ),
    ("MM", ("Yangon", "Mawlamyine"), ("Kyaw Min Aung", "Thura", "Aung San Oo"), ()),
    ("ID", ("Surabaya", "Semarang", "Jakarta"), ("Suparman", "Sukarno", "Wati"), ()),
    ("KR", ("Busan", "Incheon"), ("Kim", "Lee", "Park"), ("Ji-woo", "Min-jun", "Seo-yeon")),
    ("JP", ("Yokohama", "Kobe"), ("Sato", "Suzuki", "Takahashi"), ("Hiroshi", "Yuki", "Kenji")),
    (
        "IE",
        ("Cork", "Dublin"),
        ("O'Connor", "St. John-Whitfield", "Ó Súilleabháin"),
        ("Siobhán", "Liam", "Aoife"),
    ),
    (
        "NO",
        ("Bergen", "Ålesund"),
        ("Løvås", "Sæther", "Ødegård"),
        ("Bjørn", "Åse", "Håkon"),
    ),
    ("ES", ("Vigo", "Cádiz"), ("Rodríguez", "Núñez", "Peña"), ("José María", "Begoña", "Íñigo")),
    ("FR", ("Marseille", "Le Havre"), ("Lefèvre", "Dubois", "Moreau"), ("Amélie", "Jean-Noël", "Zoé")),
)
_RANKS: tuple[str, ...] = (
    "CHO",
    "2OF",
    "3OF",
    "CHE",
    "2EN",
    "3EN",
    "ETO",
    "BSN",
    "ABS",
    "ABS",
    "OSN",
    "OLR",
    "FTR",
)
_RANKS += ("WPR", "CCK", "COK", "MSM", "STW", "DCD", "ECD", "PMN", "OTH")
_SHIP_NAMES: tuple[str, ...] = (
    "OCEAN JADE",
    "HA LONG PEARL",
    "PACIFIC HARMONY",
    "MEKONG STAR",
    "SAIGON EXPRESS",
)
_SHIP_NAMES += ("EASTERN DAWN", "GOLDEN LOTUS", "NORDIC SPIRIT", "CORAL BAY", "ST. MARY'S GRACE")
_SHIP_TYPES = ("1505", "1511", "1512", "1513", "1521", "1525", "1531", "1533", "1592", "1601")
_PURPOSES = ("CARGO", "CARGO", "PASSENGER", "BUNKERING", "STORES", "CREW_CHANGE", "REPAIR")
_FLAGS: tuple[tuple[str, str], ...] = (
    ("PA", "352"),
    ("LR", "636"),
    ("MH", "538"),
    ("SG", "563"),
    ("VN", "574"),
    ("HK", "477"),
)
_FLAGS += (("DE", "211"), ("MT", "215"), ("CY", "210"), ("GR", "237"))
_FOREIGN_PORTS: tuple[str, ...] = (
    "CNSHA",
    "CNNGB",
    "CNBHY",
    "SGSIN",
    "HKHKG",
    "KRPUS",
    "JPYOK",
    "THLCH",
    "MYPKG",
)
_FOREIGN_PORTS += ("PHMNL", "IDJKT", "TWKHH", "KHKOS")
_BORDER_GATES = ("VNHPH", "VNHON", "VNDAD", "VNSGN", "VNVUT", "VNUIH", "VNNHA", "VNCMY", "VNDQT")
_OFFSETS = ("", "", "", "Z", "+08:00", "+09:00", "-05:00", "+05:30")
_ARMS = (
    ("FIREARM", "Signal pistol, 26.5 mm", "1", "H87", "Master's safe, bridge deck"),
    ("AMMUNITION", "Signal cartridges for the signal pistol", "12", "NAR", "Master's safe, bridge deck"),
    ("FIREARM", "Line-throwing apparatus", "1", "SET", "Wheelhouse locker"),
    ("EXPLOSIVE", "Rocket parachute flares", "12", "NAR", "Pyrotechnics locker, bridge wing"),
    ("OTHER", "Pepper spray canisters", "0.5", "LTR", "Ship security officer's cabin, locked drawer"),
)
_AGENTS = (
    "Công ty TNHH Dịch vụ Hàng hải Phương Đông",
    "Vietnam Ocean Shipping Agency (VOSA) & Partners",
    "Công ty CP Đại lý Tàu biển Sài Gòn",
)
_FILE_NAMES = {
    "50": "50-general-declaration.xml",
    "51": "51-crew-list.xml",
    "52": "52-passenger-list.xml",
    "64": "64-arms-declaration.xml",
    "65": "65-stowaway-declaration.xml",
}
_BQP_TO = (
    "<To><name>Bộ Tư lệnh Bộ đội Biên phòng</name><identity>BQP</identity><countryCode>VN</countryCode>"
    "<ministryCode>BQP</ministryCode><organizationCode>BDBP</organizationCode>"
)


def _x(value: object) -> str:
    return escape_xml(str(value))


@dataclass(frozen=True, slots=True)
class _Ship:
    name: str
    type_code: str
    imo: str
    call_sign: str
    mmsi: str
    flag: str
    voyage: str
    gross: str
    net: str


def _imo(rng: random.Random) -> str:
    head = f"{rng.randint(900000, 999999)}"
    return head + stdnum_imo.calc_check_digit(head)


def _tax_code(rng: random.Random) -> str:
    while True:
        head = f"0{rng.randint(10000000, 99999999)}"
        digit = stdnum_mst.calc_check_digit(head)
        if len(digit) == 1:  # a sum giving 10 has no check digit: draw again
            code = head + digit
            return code if rng.random() < 0.7 else f"{code}-{rng.randint(1, 30):03d}"


def _ship(rng: random.Random) -> _Ship:
    flag, mid = rng.choice(_FLAGS)
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    call_sign = "".join(rng.choice(letters) for _ in range(3)) + f"{rng.randint(2, 9)}"
    gross = rng.randint(3000, 95000)
    name = rng.choice(_SHIP_NAMES)
    return _Ship(
        name=name,
        type_code=rng.choice(_SHIP_TYPES),
        imo=_imo(rng),
        call_sign=call_sign,
        mmsi=f"{mid}{rng.randint(100000, 999999)}",
        flag=flag,
        voyage=f"{name[:2]}{rng.randint(2600, 2699)}{rng.choice('NSEW')}",
        gross=str(gross),
        net=str(int(gross * 0.31)),
    )


class _Numbers:
    """Document and visa numbers, unique across the dossier (E-DUP-DOC)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def new(self, prefix: str) -> str:
        while True:
            number = f"{prefix}{self.rng.randint(1000000, 9999999)}"
            if number not in self.used:
                self.used.add(number)
                return number


@dataclass(frozen=True, slots=True)
class _Person:
    family: str
    given: str
    nationality: str
    birth: date
    place: str
    gender: str
    doc_type: str
    doc_number: str
    issuer: str
    expiry: date
    visa: str | None


def _person(
    rng: random.Random,
    people: Sequence[_Nation],
    arrival: date,
    numbers: _Numbers,
    doc_types: str,
    passenger: bool,
) -> _Person:
    nationality, places, families, givens = rng.choice(people)
    family = rng.choice(families)
    given = rng.choice(givens) if givens else ""
    doc_type = rng.choice(doc_types)
    issuer = nationality
    if passenger and rng.random() < 0.01:
        nationality, issuer, doc_type = "XXA", rng.choice(("DE", "EE")), "O"  # a stateless traveller
    gender = "X" if passenger and rng.random() < 0.005 else rng.choice("MF")
    age_days = rng.randint(18 * 365 + 5, 66 * 365)
    visa = numbers.new("EV") if nationality != "VN" and rng.random() < 0.4 else None
    return _Person(
        family=family,
        given=given,
        nationality=nationality,
        birth=arrival - timedelta(days=age_days),
        place=rng.choice(places),
        gender=gender,
        doc_type=doc_type,
        doc_number=numbers.new({"P": "P", "S": "S", "B": "B", "O": "T"}[doc_type] + rng.choice("ABCEGH")),
        issuer=issuer,
        expiry=arrival + timedelta(days=rng.randint(60, 3600)),
        visa=visa,
    )


def _envelope(
    *, message_id: str, doc_type: str, function: str, reference: str, sent: datetime, content: str,
    document_type: str, pre_reference: str | None = None, station: str = "CKCHPG",
) -> bytes:  # fmt: skip
    pre = f"<preReference>{pre_reference}</preReference>" if pre_reference else ""
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Envelope>\n  <Header>'
        f"<Reference><version>1.0</version><messageId>{message_id}</messageId></Reference>"
        "<From><name>Cổng thông tin một cửa quốc gia</name><identity>NSW</identity>"
        "<countryCode>VN</countryCode></From>"
        f"{_BQP_TO}<unitCode>{station}</unitCode></To>"
        f"<Subject><documentType>{document_type}</documentType><type>{doc_type}</type>"
        f"<function>{function}</function><reference>{reference}</reference>{pre}"
        f"<documentYear>{sent.year:04d}</documentYear><sendDate>{format_send_date(sent)}</sendDate>"
        f"</Subject></Header>\n  <Body><Content>\n{content}</Content></Body>\n</Envelope>\n"
    )
    return text.encode("utf-8")


def _fields(pairs: Sequence[tuple[str, object | None]], indent: str) -> str:
    return "".join(f"{indent}<{tag}>{_x(value)}</{tag}>\n" for tag, value in pairs if value is not None)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def generate_dossier(
    *,
    crew: int,
    passengers: int = 0,
    arms: int = 0,
    stowaways: int = 0,
    seed: int = 0,
    reference: str | None = None,
    document_type: str = "1",
    sent_at: datetime | None = None,
    native_scripts: bool = True,
) -> list[tuple[str, bytes]]:
    """One valid dossier: (file name, envelope bytes) for each of its documents (function 01).

    crew >= 1 (the master is always first); passengers, arms items and stowaways may be 0, in
    which case no such document is sent. document_type: "1" arrival, "2" departure. sent_at:
    when the first message is sent (default DEFAULT_SENT_AT; the call is a day or two later).
    native_scripts: False keeps every name in Latin letters (no Greek or Cyrillic).
    """
    if crew < 1:
        raise ValueError("a crew list needs at least the master")
    if document_type not in ("1", "2"):
        raise ValueError("document_type is 1 (arrival) or 2 (departure)")
    if reference is not None and not _DOSSIER_NUMBER.fullmatch(reference):
        raise ValueError("a dossier number is 1-40 of A-Z, 0-9, - and /, starting with a letter or digit")
    rng = random.Random(seed)
    sent = (sent_at or DEFAULT_SENT_AT).astimezone(VIETNAM).replace(microsecond=0)
    port = rng.choice(_BORDER_GATES)
    reference = reference or f"{port[2:]}-{sent.year:04d}-{rng.randint(1, 999999):06d}"
    ship = _ship(rng)
    arriving = document_type == "1"
    numbers = _Numbers(rng)
    people = _PEOPLE if native_scripts else tuple(p for p in _PEOPLE if p[2][0].isascii() or p[0] == "VN")
    event = sent + timedelta(hours=rng.randint(18, 60), minutes=rng.choice((0, 15, 30, 45)))
    offset = rng.choice(_OFFSETS)
    event_text = _time_with_offset(event, offset)
    day = event.date()

    crew_members = [_person(rng, people, day, numbers, "PSBB", passenger=False) for _ in range(crew)]
    pax = [_person(rng, people, day, numbers, "PPPPO", passenger=True) for _ in range(passengers)]
    master = crew_members[0]
    last_port, next_port = rng.sample(_FOREIGN_PORTS, 2)
    voyage = _Voyage(rng, ship, port, arriving, sent, last_port, next_port, people)
    counts = (crew, passengers, arms, stowaways)
    master_name = f"{master.family} {master.given}" if master.given else master.family
    # Each builder draws from the one random generator in this order: the dossier for a seed stays the same.
    documents = [("50", _general_declaration(voyage, event_text, master_name, counts))]
    documents.append(("51", _crew_list(voyage, crew_members)))
    if passengers:
        documents.append(("52", _passenger_list(voyage, pax)))
    if arms:
        documents.append(("64", _arms_declaration(voyage, arms)))
    if stowaways:
        documents.append(("65", _stowaway_declaration(voyage, stowaways)))
    station = codelists().station_by_locode[port]
    envelopes = []
    for index, (doc_type, content) in enumerate(documents):
        moment = sent + timedelta(seconds=4 * index)  # one message every four seconds
        data = _envelope(message_id=_message_id(moment, reference, doc_type, "01"), doc_type=doc_type,
                         function="01", reference=reference, sent=moment, content=content,
                         document_type=document_type, station=station)  # fmt: skip
        envelopes.append((_FILE_NAMES[doc_type], data))
    return envelopes


@dataclass(frozen=True)
class _Voyage:
    """What every document of one generated dossier shares."""

    rng: random.Random
    ship: _Ship
    port: str
    arriving: bool
    sent: datetime
    last_port: str
    next_port: str
    people: Sequence[_Nation]

    def ident(self) -> str:
        """The ship's identification the lists open with."""
        pairs = [
            ("IsArrival", _flag(self.arriving)),
            ("NameOfShip", self.ship.name),
            ("IMONumber", self.ship.imo),
            ("CallSign", self.ship.call_sign),
            ("VoyageNumber", self.ship.voyage),
            ("PortOfCallCode", self.port),
        ]
        return _fields(pairs, "      ")


def _general_declaration(
    v: _Voyage, event_text: str, master_name: str, counts: tuple[int, int, int, int]
) -> str:
    """The General Declaration (50)."""
    rng, ship = v.rng, v.ship
    crew, passengers, arms, stowaways = counts
    gd = _fields(
        [
            ("IsArrival", _flag(v.arriving)),
            ("NameOfShip", ship.name),
            ("TypeOfShipCode", ship.type_code),
            ("IMONumber", ship.imo),
            ("CallSign", ship.call_sign),
            ("MMSI", ship.mmsi if rng.random() < 0.8 else None),
            ("VoyageNumber", ship.voyage),
            ("FlagStateOfShip", ship.flag),
            ("GrossTonnage", ship.gross),
            ("NetTonnage", ship.net),
            ("PortOfCallCode", v.port),
            ("ArrivalOrDepartureTime", event_text),
            ("LastPortOfCallCode", v.last_port),
            ("NextPortOfCallCode", v.next_port),
            ("PositionOfShipInPort", f"Berth {rng.randint(1, 12)}" if rng.random() < 0.7 else None),
            ("PurposeOfCallCode", "PASSENGER" if passengers else rng.choice(_PURPOSES)),
            ("NameOfMaster", master_name),
            ("NumberOfCrew", crew),
            ("NumberOfPassengers", passengers),
            ("ArmsOnBoard", _flag(arms > 0)),
            ("NumberOfStowaways", stowaways),
            ("ShipAgentName", rng.choice(_AGENTS)),
            ("ShipAgentTaxCode", _tax_code(rng)),
            (
                "ShipAgentPhone",
                f"+84 {rng.randint(20, 299)} {rng.randint(1000, 9999)} {rng.randint(100, 999)}",
            ),
            ("ShipAgentEmail", f"ops{rng.randint(1, 99)}@agency.example" if rng.random() < 0.8 else None),
            ("Remarks", "Generated dossier." if rng.random() < 0.3 else None),
            ("SignPlace", "Hải Phòng"),
            ("SignDate", v.sent.date().isoformat()),
        ],
        "      ",
    )
    return f"    <GeneralDeclaration>\n{gd}    </GeneralDeclaration>\n"


def _crew_list(v: _Voyage, crew_members: Sequence[_Person]) -> str:
    """The Crew List (51): the master first."""
    rng = v.rng
    ranks = ["MAS", *(rng.choice(_RANKS) for _ in range(len(crew_members) - 1))]
    crew_xml = [v.ident()]
    for code, (person, rank) in enumerate(zip(crew_members, ranks, strict=True), 1):
        crew_xml.append(
            "      <CrewList>"
            f"<CrewCode>{code}</CrewCode><FamilyName>{_x(person.family)}</FamilyName>"
            f"<GivenName>{_x(person.given)}</GivenName><RankCode>{rank}</RankCode>"
            f"<Nationality>{person.nationality}</Nationality><DateOfBirth>{person.birth}</DateOfBirth>"
            f"<PlaceOfBirth>{_x(person.place)}</PlaceOfBirth><Gender>{person.gender}</Gender>"
            f"<PassportTypeCode>{person.doc_type}</PassportTypeCode>"
            f"<PassportNumber>{person.doc_number}</PassportNumber>"
            f"<PassportIssuingState>{person.issuer}</PassportIssuingState>"
            f"<PassportExpiryDate>{person.expiry}</PassportExpiryDate>"
            + (f"<VisaNumber>{person.visa}</VisaNumber>" if person.visa else "")
            + f"<GoAshore>{_flag(rng.random() < 0.15)}</GoAshore></CrewList>\n"
        )
    return "    <CrewLists>\n" + "".join(crew_xml) + "    </CrewLists>\n"


def _passenger_list(v: _Voyage, pax: Sequence[_Person]) -> str:
    """The Passenger List (52)."""
    rng = v.rng
    pax_xml = [v.ident()]
    home = v.port if v.arriving else rng.choice(_FOREIGN_PORTS)
    for code, person in enumerate(pax, 1):
        transit = rng.random() < 0.1
        embark = v.last_port if v.arriving else v.port
        disembark = (v.next_port if transit else home) if v.arriving else v.next_port
        pax_xml.append(
            "      <Passenger>"
            f"<PassengerCode>{code}</PassengerCode><FamilyName>{_x(person.family)}</FamilyName>"
            f"<GivenName>{_x(person.given)}</GivenName><Nationality>{person.nationality}</Nationality>"
            f"<DateOfBirth>{person.birth}</DateOfBirth><PlaceOfBirth>{_x(person.place)}</PlaceOfBirth>"
            f"<Gender>{person.gender}</Gender><TypeOfIdentity>{person.doc_type}</TypeOfIdentity>"
            f"<SerialNumberOfIdentity>{person.doc_number}</SerialNumberOfIdentity>"
            f"<IdentityIssuingState>{person.issuer}</IdentityIssuingState>"
            f"<IdentityExpiryDate>{person.expiry}</IdentityExpiryDate>"
            + (f"<VisaNumber>{person.visa}</VisaNumber>" if person.visa else "")
            + f"<PortOfEmbarkationCode>{embark}</PortOfEmbarkationCode>"
            f"<PortOfDisembarkationCode>{disembark}</PortOfDisembarkationCode>"
            f"<IsTransit>{_flag(transit)}</IsTransit><GoAshore>{_flag(rng.random() < 0.3)}</GoAshore>"
            "</Passenger>\n"
        )
    return "    <PassengerList>\n" + "".join(pax_xml) + "    </PassengerList>\n"


def _arms_declaration(v: _Voyage, arms: int) -> str:
    """The Arms Declaration (64)."""
    items = [f"      <IMONumber>{v.ship.imo}</IMONumber>\n"]
    for code in range(1, arms + 1):
        kind, description, quantity, unit, storage = _ARMS[(code - 1) % len(_ARMS)]
        items.append(
            f"      <Item><ItemCode>{code}</ItemCode><Kind>{kind}</Kind>"
            f"<Description>{_x(description)}</Description><Quantity>{quantity}</Quantity>"
            f"<Unit>{unit}</Unit><StorageLocation>{_x(storage)}</StorageLocation></Item>\n"
        )
    return "    <ArmsDeclaration>\n" + "".join(items) + "    </ArmsDeclaration>\n"


def _stowaway_declaration(v: _Voyage, stowaways: int) -> str:
    """The Stowaway Declaration (65)."""
    rng = v.rng
    found = [f"      <IMONumber>{v.ship.imo}</IMONumber>\n"]
    for code in range(1, stowaways + 1):
        named = rng.random() < 0.5
        nationality, _, families, givens = rng.choice(v.people)
        found.append(
            f"      <Stowaway><StowawayCode>{code}</StowawayCode>"
            + (f"<FamilyName>{_x(rng.choice(families))}</FamilyName>" if named else "")
            + (f"<GivenName>{_x(rng.choice(givens))}</GivenName>" if named and givens else "")
            + (f"<Nationality>{nationality}</Nationality>" if named else "")
            + f"<EstimatedAge>{rng.randint(17, 45)}</EstimatedAge>"
            + f"<PortOfBoardingCode>{v.last_port}</PortOfBoardingCode>"
            + f"<DateFound>{(v.sent - timedelta(days=rng.randint(0, 3))).date()}</DateFound>"
            + "<Remarks>Found hidden in the steering gear room; held under watch.</Remarks>"
            + "</Stowaway>\n"
        )
    return "    <StowawayDeclaration>\n" + "".join(found) + "    </StowawayDeclaration>\n"


def _message_id(moment: datetime, *identity: str) -> str:
    """`NSW`, the send time and 10 hex digits of what the message is: unique across dossiers sent
    in the same second (random digits collided there), and the same for the same input."""
    digest = hashlib.sha256("/".join(identity).encode()).hexdigest()[:10].upper()
    return f"NSW{moment.strftime('%Y%m%d%H%M%S')}{digest}"


def _time_with_offset(local: datetime, offset: str) -> str:
    """A Vietnam local time written in another offset (or as local time when offset is "")."""
    if not offset:
        return local.strftime("%Y-%m-%d %H:%M:%S")
    if offset == "Z":
        return local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return local.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") + offset


# --- follow-up messages ---------------------------------------------------------------------


def _retag(
    data: bytes, *, function: str, message_id: str, pre_reference: str, sent: datetime
) -> etree._Element:
    root = parse_untrusted(data)
    subject = root.find("Header/Subject")
    assert subject is not None
    root.find("Header/Reference/messageId").text = message_id  # type: ignore[union-attr]
    subject.find("function").text = function  # type: ignore[union-attr]
    old = subject.find("preReference")
    if old is None:
        old = etree.Element("preReference")
        subject.find("reference").addnext(old)  # type: ignore[union-attr]
    old.text = pre_reference
    subject.find("sendDate").text = format_send_date(sent)  # type: ignore[union-attr]
    return root


def _header_of(data: bytes) -> tuple[str, datetime]:
    root = parse_untrusted(data)
    message_id = root.findtext("Header/Reference/messageId") or ""
    sent = datetime.strptime(root.findtext("Header/Subject/sendDate") or "", "%Y-%m-%d %H:%M:%S")
    return message_id, sent.replace(tzinfo=VIETNAM)


def amend(
    document: tuple[str, bytes], *, content: etree._Element | None = None, minutes_later: int = 5
) -> tuple[str, bytes]:
    """An amendment (function 02) of one generated document: the whole document again, maybe changed.

    content: the new Content document element (default: the old one, unchanged).
    """
    name, data = document
    message_id, sent = _header_of(data)
    later = sent + timedelta(minutes=minutes_later)
    root = _retag(
        data,
        function="02",
        message_id=_message_id(later, message_id, "02"),
        pre_reference=message_id,
        sent=later,
    )
    if content is not None:
        holder = root.find("Body/Content")
        assert holder is not None
        holder[0].getparent().replace(holder[0], content)  # type: ignore[union-attr]
    stem = name.removesuffix(".xml")
    return f"{stem}-amendment.xml", bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def cancel(
    dossier: Sequence[tuple[str, bytes]],
    *,
    reason: str = "Voyage cancelled by the owner.",
    minutes_later: int = 10,
) -> tuple[str, bytes]:
    """A cancellation (function 03, type 50) of a generated dossier, naming its General Declaration."""
    general = next(data for name, data in dossier if name.startswith("50-"))
    message_id, _ = _header_of(general)
    latest = max(_header_of(data)[1] for _, data in dossier)
    later = latest + timedelta(minutes=minutes_later)
    root = _retag(
        general,
        function="03",
        message_id=_message_id(later, message_id, "03"),
        pre_reference=message_id,
        sent=later,
    )
    holder = root.find("Body/Content")
    assert holder is not None
    cancellation = etree.Element("Cancellation")
    etree.SubElement(cancellation, "Reason").text = reason
    holder.replace(holder[0], cancellation)
    return "50-cancellation.xml", bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
