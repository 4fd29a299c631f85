"""The Vietnamese catalogue (the default for agents): the same keys and parameters as en.py.

Field names (IMONumber, documentType...) and codes stay as the NSW documents spell them, so
an agent finds them in the form; the sentences around them are Vietnamese. Words are written in
lower case; a rendered text starts with a capital (texts.render).
"""

# ruff: noqa: E501  # a text is kept on one line where it fits, so that it can be searched for whole

from __future__ import annotations

_LOCODE_FORM = (
    "5 ký tự: hai chữ cái in hoa chỉ quốc gia, tiếp theo là ba chữ cái in hoa hoặc chữ số từ 2 đến 9 "
    "(ví dụ VNHPH)"
)
_COUNTRY_FORM = "mã ISO 3166-1 gồm hai chữ cái in hoa (ví dụ VN)"
_PERSON_COUNTRY_FORM = f"{_COUNTRY_FORM}, hoặc XXA, XXB, XXC, XXX"
_SEQUENCE_FORM = "các mã trong một danh sách phải là 1 đến {n}, mỗi mã một lần, thứ tự tùy ý"

MESSAGES: dict[str, str] = {
    # --- quy tắc nghiệp vụ (rules.py) ---
    "E-MISMATCH.imo": "IMONumber {value} trong {document} khác với số IMO của hồ sơ ({expected})",
    "E-MISMATCH.document_type": (
        "documentType {value} của {document} khác với documentType của Bản khai chung ({expected}; "
        "1 là tàu đến, 2 là tàu rời)"
    ),
    "E-MISMATCH.is_arrival": "IsArrival của {document} ghi {found} nhưng documentType ghi {event}",
    "E-MISMATCH.port": "Cảng đến {value} trong {document} khác với cảng đến trong Bản khai chung ({expected})",
    "E-IMO": (
        "Số IMO {value} trong {document} sai chữ số kiểm tra: số IMO gồm 7 chữ số, chữ số cuối là chữ số "
        "hàng đơn vị của tổng sáu chữ số đầu lần lượt nhân với 7, 6, 5, 4, 3, 2"
    ),
    "E-PORT": "Cảng đến {value} không phải là cửa khẩu cảng biển: phải là một trong các mã {gates}",
    "E-LOCODE": "{port} {value} trong {document} không phải là mã UN/LOCODE hợp lệ: " + _LOCODE_FORM,
    "E-LOCODE.item": (
        "{port} {value} của {noun} thứ {index} trong {document} không phải là mã UN/LOCODE hợp lệ: "
        + _LOCODE_FORM
    ),
    "E-COUNTRY.flag": "Quốc gia treo cờ {value} không phải là " + _COUNTRY_FORM,
    "E-COUNTRY.nationality": "Quốc tịch {value} của {noun} thứ {index} không phải là " + _PERSON_COUNTRY_FORM,
    "E-COUNTRY.issuer": (
        "Quốc gia cấp giấy tờ {value} của {noun} thứ {index} không phải là " + _PERSON_COUNTRY_FORM
    ),
    "E-COUNT": "{field} khai là {declared} nhưng danh sách có {listed} {noun}",
    "E-SEQ.repeat": "{field} {value} của {noun} thứ {index} trùng với một mã trước đó: " + _SEQUENCE_FORM,
    "E-SEQ.beyond": "{field} {value} của {noun} thứ {index} nằm ngoài khoảng 1..{n}: " + _SEQUENCE_FORM,
    "E-SEQ.missing": "{document} thiếu {field} {missing} trong khoảng 1..{n}: " + _SEQUENCE_FORM,
    "E-MASTER.empty": (
        "Danh sách thuyền viên không có thuyền trưởng: thuyền viên đầu tiên phải là thuyền trưởng (RankCode MAS)"
    ),
    "E-MASTER.rank": (
        "RankCode của thuyền viên đầu tiên là {value}: thuyền viên đầu tiên phải là thuyền trưởng (RankCode MAS)"
    ),
    "E-MASTER.name": (
        "NameOfMaster khác với tên thuyền trưởng trong Danh sách thuyền viên (so sánh không phân biệt "
        "chữ hoa, dấu và khoảng trắng thừa)"
    ),
    "E-DOC-EXPIRED": (
        "{kind} của {noun} thứ {index} hết hạn trước ngày {event} ({date}): giấy tờ phải còn hạn vào ngày đó"
    ),
    "E-DOB.future": "Ngày sinh của {noun} thứ {index} ở tương lai (sau ngày {today})",
    "E-DOB.too_old": "Ngày sinh của {noun} thứ {index} cách đây hơn 120 năm (trước ngày {oldest})",
    "E-TAXCODE": (
        "Mã số thuế {value} của đại lý tàu biển không phải là MST hợp lệ: 10 chữ số, chữ số cuối là chữ số "
        "kiểm tra của chín chữ số đầu, có thể thêm dấu - và 3 chữ số mã chi nhánh (ví dụ 0100109106-001)"
    ),
    "E-DUP-DOC": (
        "{noun} thứ {index} có cùng {kind} (loại, số và quốc gia cấp) với {holder} thứ {holder_index}"
    ),
    "E-INCOMPLETE.called_for": "{field} yêu cầu {document}, nhưng chưa nhận được",
    "E-INCOMPLETE.not_arrived": "Chưa nhận được {document}",
    "E-INCOMPLETE.empty": "Hồ sơ không có văn bản nào",
    "E-INCOMPLETE.deadline": "Chưa nhận được {document} trong thời hạn của hồ sơ",
    "E-INCOMPLETE.deadline_called_for": (
        "Bản khai chung yêu cầu {document}, nhưng chưa nhận được trong thời hạn của hồ sơ"
    ),
    "E-UNKNOWN-DOSSIER": "Chưa nhận được hồ sơ này: văn bản sửa đổi hoặc hủy cần các văn bản của hồ sơ đó trước",
    "E-UNKNOWN-DOSSIER.reference": (
        "Chưa nhận được hồ sơ {reference}: văn bản sửa đổi hoặc hủy cần các văn bản của hồ sơ đó trước"
    ),
    # --- lược đồ (envelope.xsd), viết lại từ thông báo của libxml2 (texts/schema.py) ---
    "E-SCHEMA.form": "{field} {value} không đúng định dạng: {form}",
    "E-SCHEMA.form_hidden": "{field} không đúng định dạng: {form}",
    "E-SCHEMA.choice": "{field} {value} không thuộc các giá trị cho phép: {allowed}",
    "E-SCHEMA.choice_hidden": "{field} không thuộc các giá trị cho phép: {allowed}",
    "E-SCHEMA.too_long": "{field} dài {length} ký tự, vượt quá {limit} ký tự cho phép",
    "E-SCHEMA.too_short": "{field} dài {length} ký tự, ngắn hơn {limit} ký tự tối thiểu",
    "E-SCHEMA.wrong_length": "{field} dài {length} ký tự, trong khi phải đúng {limit} ký tự",
    "E-SCHEMA.too_small": "{field} {value} nhỏ hơn giá trị tối thiểu {limit}",
    "E-SCHEMA.too_large": "{field} {value} lớn hơn giá trị tối đa {limit}",
    "E-SCHEMA.type": "{field} {value} không phải là {form}",
    "E-SCHEMA.type_hidden": "{field} không phải là {form}",
    "E-SCHEMA.unexpected": "{field} không được phép ở vị trí này; cần: {expected}",
    "E-SCHEMA.unexpected_end": "{field} không được phép ở vị trí này: không được có thêm trường nào",
    "E-SCHEMA.missing": "{field} thiếu trường bắt buộc; cần: {expected}",
    "E-SCHEMA.text_not_allowed": "{field} chứa văn bản trong khi chỉ được chứa các trường",
    "E-SCHEMA.attribute": "{field} có thuộc tính {attribute}, thuộc tính này không được phép",
    "E-SCHEMA.other": "{field} không phù hợp với lược đồ của NSW",
    "E-SCHEMA.calendar": "{field} {value} không phải là thời điểm hợp lệ theo giờ Việt Nam",
    "E-SCHEMA.model": "{field} không hợp lệ ({error})",
    "E-SCHEMA.portal": (
        "Cổng thông tin sẽ từ chối bản khai: trường {field} được tạo từ trường này không phù hợp "
        "với lược đồ của cổng"
    ),
    # --- phong bì (envelope.py, xml.py, intake.py) ---
    "E-ENVELOPE.too_large": "Thông điệp {size} byte (theo Content-Length) vượt quá giới hạn {limit} byte",
    "E-ENVELOPE.too_large_read": "Thông điệp vượt quá giới hạn {limit} byte (đã ngừng đọc sau {size} byte)",
    "E-ENVELOPE.doctype": "Không được phép có khai báo DOCTYPE hoặc thực thể (entity)",
    "E-ENVELOPE.attributes": "Một phần tử có hơn {limit} thuộc tính",
    "E-ENVELOPE.schema_hint": "Không được phép có chỉ dẫn xsi:schemaLocation",
    "E-ENVELOPE.too_deep": "Tài liệu lồng nhau sâu hơn {limit} cấp",
    "E-ENVELOPE.long_name": "Một tên dài hơn {limit} ký tự",
    "E-ENVELOPE.long_text": "Một nội dung văn bản vượt quá giới hạn {limit} byte",
    "E-ENVELOPE.not_xml": "Thông điệp không phải là XML hợp lệ (dòng {line}, cột {column}): {problem}",
    "E-ENVELOPE.unreadable": "Không đọc được thông điệp dưới dạng XML theo bảng mã đã khai báo",
    "E-ENVELOPE.misdecoded": (
        "Thông điệp chứa ký tự thay thế U+FFFD: các byte của nó không khớp với bảng mã đã khai báo"
    ),
    "E-ENVELOPE.root": "Phần tử gốc là {value}, không phải Envelope",
    "E-ENVELOPE.send_date": (
        "sendDate {value} không phải là thời điểm hợp lệ: cần dạng yyyy-MM-dd HH:mm:ss, giờ Việt Nam"
    ),
    "E-ENVELOPE.not_from_nsw": "Thông điệp không đến từ NSW: From/identity phải là NSW",
    "E-ENVELOPE.not_to_bqp": "Thông điệp không gửi đến BQP: To/identity phải là BQP",
    "E-ENVELOPE.missing": "Thiếu {field}",
    "E-ENVELOPE.document_type": "documentType {value} không phải là 1 (tàu đến) hoặc 2 (tàu rời)",
    "E-ENVELOPE.type": "type {value} không phải là loại văn bản NSW gửi: cần 50, 51, 52, 64 hoặc 65",
    "E-ENVELOPE.function": "function {value} không phải là 01 (khai mới), 02 (sửa đổi) hoặc 03 (hủy)",
    "E-ENVELOPE.cancellation_type": "Văn bản hủy phải có type 50, không phải {value}",
    "E-ENVELOPE.content": "Content chứa {found}, nhưng type {type} function {function} yêu cầu {expected}",
    "E-ENVELOPE.required": "Bắt buộc phải có documentType, type và reference",
    "E-ENVELOPE.other_dossier": "Thông điệp thuộc về một hồ sơ khác",
    # --- chữ ký số (signature.py): lý do là chi tiết kỹ thuật của bộ kiểm tra ---
    "E-SIGNATURE.missing": "Thông điệp chưa được ký số; bản khai bắt buộc phải có chữ ký số",
    "E-SIGNATURE.failed": "Chữ ký số không hợp lệ: {reason}",
    # --- nhiều hơn số lỗi một câu trả lời liệt kê (errors.listed) ---
    "more": "Còn {count} lỗi khác ({codes}) không được liệt kê: mỗi câu trả lời liệt kê tối đa {limit} lỗi",
}

WORDS: dict[str, str] = {
    "doc.50": "Bản khai chung",
    "doc.51": "Danh sách thuyền viên",
    "doc.52": "Danh sách hành khách",
    "doc.64": "Bản khai vũ khí",
    "doc.65": "Bản khai người trốn trên tàu",
    "noun.crew": "thuyền viên",
    "noun.passenger": "hành khách",
    "noun.stowaway": "người trốn trên tàu",
    "noun.arms": "mục vũ khí",
    "plural.crew": "thuyền viên",
    "plural.passenger": "hành khách",
    "plural.stowaway": "người trốn trên tàu",
    "kind.P": "hộ chiếu",
    "kind.S": "giấy chứng minh thuyền viên",
    "kind.B": "sổ thuyền viên",
    "kind.other": "giấy tờ tùy thân",
    "event.arrival": "tàu đến",
    "event.departure": "tàu rời",
    "port.PortOfCallCode": "cảng đến",
    "port.LastPortOfCallCode": "cảng ghé trước",
    "port.NextPortOfCallCode": "cảng ghé tiếp theo",
    "port.PortOfEmbarkationCode": "cảng lên tàu",
    "port.PortOfDisembarkationCode": "cảng rời tàu",
    "port.PortOfBoardingCode": "cảng lên tàu",
    "nothing": "không có gì",
    "form.digits7": "7 chữ số",
    "form.digits9": "9 chữ số",
    "form.year": "năm gồm 4 chữ số",
    "form.date": "ngày viết theo dạng yyyy-MM-dd",
    "form.local_time": "thời điểm theo giờ địa phương, dạng yyyy-MM-dd HH:mm:ss",
    "form.time": "thời điểm dạng yyyy-MM-dd HH:mm:ss, có thể thêm Z hoặc múi giờ như +07:00",
    "form.taxcode": "10 chữ số, có thể thêm dấu - và 3 chữ số mã chi nhánh",
    "form.locode": _LOCODE_FORM,
    "form.country": _COUNTRY_FORM,
    "form.person_country": _PERSON_COUNTRY_FORM,
    "form.station": "CKC và ba chữ cái in hoa (mã trạm biên phòng cửa khẩu)",
    "form.reference": "chữ cái in hoa, chữ số, / và -, bắt đầu bằng chữ cái hoặc chữ số",
    "form.message_id": "chữ cái, chữ số và -, tối đa 50 ký tự, bắt đầu bằng chữ cái hoặc chữ số",
    "form.code": "chữ cái in hoa, chữ số, _ và -",
    "form.short_code": "3 đến 8 chữ cái in hoa hoặc chữ số",
    "form.letters": "văn bản có ít nhất một chữ cái",
    "form.email": "địa chỉ thư điện tử (ten@tenmien)",
    "form.phone": "số điện thoại: chữ số, khoảng trắng, ( ) . và -, có thể bắt đầu bằng +",
    "form.text": "chữ cái, chữ số và dấu câu thông dụng, bắt đầu bằng chữ cái hoặc chữ số",
    "form.xpath": "một XPath bắt đầu bằng /",
    "form.integer": "số nguyên",
    "form.positive": "số nguyên từ 1 trở lên",
    "form.non_negative": "số nguyên từ 0 trở lên",
    "form.decimal": "một số (dùng dấu chấm trước phần thập phân)",
    "form.any": "giá trị đúng kiểu",
    # Well-formedness errors (xml.py SYNTAX_KINDS).
    "xml.TAG_NAME_MISMATCH": "thẻ đóng không khớp với thẻ mở",
    "xml.TAG_NOT_FINISHED": "có phần tử chưa được đóng",
    "xml.DOCUMENT_END": "có nội dung nằm sau phần tử gốc",
    "xml.DOCUMENT_EMPTY": "thông điệp rỗng",
    "xml.DOCUMENT_START": "thông điệp không bắt đầu bằng một phần tử",
    "xml.UNDECLARED_ENTITY": "có thực thể (entity) ngoài năm thực thể của XML (&amp; &lt; &gt; &quot; &apos;)",
    "xml.ENTITYREF_SEMICOL_MISSING": "có ký tự & chưa được viết thành &amp;",
    "xml.NAME_REQUIRED": "thiếu tên sau ký tự < hoặc &",
    "xml.LT_IN_ATTRIBUTE": "giá trị thuộc tính chứa ký tự < chưa được viết thành &lt;",
    "xml.ATTRIBUTE_REDEFINED": "một phần tử có thuộc tính bị lặp lại",
    "xml.ATTRIBUTE_WITHOUT_VALUE": "có thuộc tính không có giá trị",
    "xml.INVALID_CHAR": "có ký tự XML không cho phép (ví dụ ký tự điều khiển)",
    "xml.INVALID_ENCODING": "các byte không hợp lệ theo bảng mã đã khai báo",
    "xml.UNSUPPORTED_ENCODING": "bảng mã đã khai báo không được hỗ trợ",
    "xml.GT_REQUIRED": "có thẻ không được đóng bằng >",
    "xml.LTSLASH_REQUIRED": "thiếu thẻ đóng",
    "xml.RESERVED_XML_NAME": "khai báo XML không nằm ở đầu thông điệp",
    "xml.other": "XML bị lỗi cú pháp tại đây",
}
