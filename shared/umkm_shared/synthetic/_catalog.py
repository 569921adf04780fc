"""The business activities synthetic UMKM are drawn from: curated KBLI 2020 kelompok codes.

Section shares follow the usual picture of Indonesian UMKM (trade about 54%, accommodation and
food about 19%, manufacturing about 16%, the rest spread); within a section each activity has a
relative weight. Food, tourism and crafts dominate, as the ministry's cluster sectors do.
`activities()` checks every code against the shipped KBLI table, so a typo fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from umkm_shared.reference import kbli

Style = Literal["warung", "toko", "usaha", "jasa"]
CertProfile = Literal["food_mfg", "food_service", "water", "cosmetic", "jamu", "sni"]

# KBLI 2020 kategori -> share of all UMKM (sums to 1).
SECTION_SHARES: dict[str, float] = {
    "G": 0.540,
    "I": 0.190,
    "C": 0.160,
    "A": 0.040,
    "S": 0.032,
    "H": 0.014,
    "N": 0.008,
    "R": 0.005,
    "P": 0.003,
    "M": 0.003,
    "F": 0.002,
    "Q": 0.001,
    "E": 0.001,
    "B": 0.001,
}

# Business-name templates per style: {H} head, {hon} honorific + call name ("Bu Sri"), {N} call
# name, {B} blessing phrase ("Sumber Rejeki"), {K} kabupaten/kota name, {D} desa name.
STYLE_TEMPLATES: dict[str, tuple[tuple[str, float], ...]] = {
    "warung": (("{H} {hon}", 45), ("{H} {B}", 25), ("{H} {N}", 20), ("{H} {D}", 10)),
    "toko": (("{H} {B}", 50), ("{H} {hon}", 25), ("{H} {N}", 25)),
    "usaha": (
        ("{H} {B}", 50),
        ("{H} {hon}", 20),
        ("{H} {N}", 10),
        ("{H} Khas {K}", 10),
        ("{H} {K}", 10),
    ),
    "jasa": (("{H} {N}", 35), ("{H} {B}", 35), ("{H} {hon}", 30)),
}


@dataclass(frozen=True)
class Activity:
    code: str  # KBLI 2020 kelompok
    weight: float  # relative weight within its KBLI section
    heads: tuple[str, ...]  # first words of a business name: "Warung Makan", "Keripik Tempe"
    products: tuple[str, ...]
    style: Style
    policy_sector: str  # the ministry's cluster sector this activity mostly belongs to
    certs: CertProfile | None = None
    # province code -> heads/products used instead, half of the time, in that province
    regional_heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    regional_products: dict[str, tuple[str, ...]] = field(default_factory=dict)
    legal_head: bool = True  # "CV Konveksi Berkah" reads well; "UD Warung Makan ..." does not


def _a(
    code: str,
    weight: float,
    heads: str,
    products: str,
    style: Style,
    sector: str,
    certs: CertProfile | None = None,
    *,
    rh: dict[str, str] | None = None,
    rp: dict[str, str] | None = None,
    legal_head: bool = True,
) -> Activity:
    """Compact constructor: heads/products are '|'-separated strings."""

    def split(text: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in text.split("|") if part.strip())

    return Activity(
        code=code,
        weight=weight,
        heads=split(heads),
        products=split(products),
        style=style,
        policy_sector=sector,
        certs=certs,
        regional_heads={k: split(v) for k, v in (rh or {}).items()},
        regional_products={k: split(v) for k, v in (rp or {}).items()},
        legal_head=legal_head,
    )


# fmt: off
_ACTIVITIES: tuple[Activity, ...] = (
    # --- G: trade (kuliner-related retail first) -------------------------------------------
    _a("47112", 15.0, "Toko Kelontong|Warung Sembako|Toko|Warung|Kios",
       "Beras|Minyak Goreng|Gula Pasir|Telur Ayam|Mi Instan|Kopi Sachet|Rokok|Sabun Mandi|"
       "Gas Elpiji 3 kg|Air Mineral|Tepung Terigu|Kecap|Deterjen", "toko", "perdagangan",
       legal_head=False),
    _a("47813", 3.0, "Lapak Sayur|Sayur|Kios Sayur", "Sayur Bayam|Kangkung|Kol|Wortel|Kentang|"
       "Cabai Rawit|Bawang Merah|Tomat|Terong|Kacang Panjang", "toko", "pertanian",
       legal_head=False),
    _a("47829", 3.0, "Kios Jajanan|Lapak Gorengan|Jajanan Pasar|Kue Pasar",
       "Gorengan|Kue Basah|Lontong|Arem-arem|Nagasari|Klepon|Risoles|Es Cendol|Martabak Mini",
       "warung", "kuliner", legal_head=False),
    _a("47711", 3.0, "Toko Pakaian|Butik|Toko Busana|Distro",
       "Kemeja|Kaos|Gamis|Jilbab|Celana Panjang|Baju Anak|Daster|Mukena|Batik", "toko",
       "fesyen"),
    _a("47242", 2.0, "Toko Roti|Toko Kue|Aneka Kue", "Roti Manis|Kue Kering|Bolu|Brownies|"
       "Kue Lapis|Roti Tawar|Donat", "toko", "kuliner", legal_head=False),
    _a("47992", 2.0, "Jajanan Keliling|Dagangan Keliling|Keliling",
       "Es Krim|Cilok|Siomay|Roti Keliling|Tahu Bulat|Sayur Mayur|Jamu Gendong", "warung",
       "kuliner", legal_head=False),
    _a("47911", 2.0, "Online Shop|Olshop|Dapur|Snack", "Frozen Food|Kue Kering|Sambal Kemasan|"
       "Keripik|Kopi Bubuk|Madu|Camilan|Skincare", "jasa", "kuliner"),
    _a("47414", 2.0, "Konter Pulsa|Cell|Phone Cell|Konter HP",
       "Pulsa|Paket Data|Aksesoris HP|Voucher Internet|Casing HP|Charger|Token Listrik",
       "toko", "perdagangan"),
    _a("45407", 2.0, "Bengkel Motor|Bengkel|Servis Motor|Tambal Ban",
       "Servis Motor|Ganti Oli|Tambal Ban|Turun Mesin|Spare Part Motor|Servis Karburator",
       "jasa", "otomotif"),
    _a("47812", 1.5, "Toko Buah|Lapak Buah|Buah Segar", "Pisang|Jeruk|Mangga|Pepaya|Semangka|"
       "Salak|Rambutan|Apel|Melon|Nanas", "toko", "pertanian", legal_head=False),
    _a("47815", 1.5, "Lapak Ikan|Ikan Segar|Kios Ikan", "Ikan Tongkol|Ikan Kembung|Udang|"
       "Cumi|Ikan Bandeng|Ikan Lele|Ikan Nila|Ikan Asin", "toko", "kelautan_perikanan",
       legal_head=False),
    _a("47814", 1.5, "Lapak Ayam|Ayam Potong|Kios Daging|Agen Telur",
       "Ayam Potong|Daging Sapi|Telur Ayam|Telur Bebek|Ati Ampela|Ayam Kampung", "toko",
       "pertanian", legal_head=False),
    _a("47241", 1.5, "Toko Beras|Agen Beras|Grosir Beras", "Beras Premium|Beras Medium|"
       "Beras Pandan Wangi|Beras Merah|Ketan", "toko", "pertanian", legal_head=False),
    _a("47249", 1.5, "Toko Snack|Grosir Snack|Pusat Oleh-oleh|Toko Oleh-oleh",
       "Keripik|Kacang Goreng|Dodol|Bakpia|Kerupuk|Manisan|Kue Kering|Wajik", "toko",
       "pariwisata", rh={"34": "Bakpia|Pusat Oleh-oleh|Gudeg Kaleng",
                         "32": "Oleh-oleh|Peuyeum|Toko Oleh-oleh",
                         "13": "Pusat Oleh-oleh|Keripik Balado|Rendang Kemasan"},
       legal_head=False),
    _a("47832", 1.5, "Lapak Pakaian|Kios Baju|Pakaian", "Kaos|Celana|Daster|Baju Anak|"
       "Pakaian Dalam|Kerudung|Sarung", "toko", "fesyen", legal_head=False),
    _a("47912", 1.5, "Online Shop|Olshop|Hijab|Fashion", "Gamis|Jilbab|Tunik|Kaos|Tas Wanita|"
       "Sepatu|Baju Muslim", "jasa", "fesyen"),
    _a("47528", 1.5, "Toko Bangunan|Toko Material|Depo Bangunan|Panglong",
       "Semen|Pasir|Besi Beton|Cat Tembok|Pipa PVC|Keramik|Paku|Genteng|Kayu Balok", "toko",
       "perumahan"),
    _a("47772", 1.0, "Pangkalan Gas|Agen Gas|Pangkalan Elpiji", "Gas Elpiji 3 kg|"
       "Gas Elpiji 12 kg|Air Galon|Tabung Gas", "toko", "perdagangan", legal_head=False),
    _a("47826", 1.0, "Es|Kedai Minuman|Lapak Minuman", "Es Teh|Es Jeruk|Es Kelapa Muda|"
       "Es Dawet|Jus Buah|Es Cincau|Kopi Susu", "warung", "kuliner", legal_head=False),
    _a("47244", 1.0, "Tahu Tempe|Lapak Tahu Tempe", "Tahu|Tempe|Oncom|Tauco", "toko", "kuliner",
       legal_head=False),
    _a("47724", 0.8, "Toko Kosmetik|Beauty Store|Kosmetik", "Skincare|Lipstik|Bedak|Sabun Wajah|"
       "Parfum|Lulur", "toko", "kesehatan_kecantikan"),
    _a("45406", 0.8, "Toko Spare Part|Sparepart Motor|Variasi Motor", "Oli Mesin|Ban Motor|"
       "Kampas Rem|Busi|Aki Motor|Rantai Motor|Helm", "toko", "otomotif"),
    _a("45202", 0.8, "Cuci Motor|Cucian Mobil|Car Wash|Doorsmeer", "Cuci Motor|Cuci Mobil|"
       "Salon Mobil|Poles Body", "jasa", "otomotif", rh={"12": "Doorsmeer|Doorsmeer Steam"}),
    _a("47781", 0.6, "Kerajinan|Galeri Kerajinan|Art Shop|Toko Souvenir",
       "Souvenir Kayu|Anyaman Bambu|Tas Rotan|Topi Pandan|Hiasan Dinding|Gantungan Kunci",
       "toko", "pariwisata", rh={"51": "Art Shop|Bali Art|Galeri Seni"}),
    _a("46319", 0.6, "Pengepul|Agen Hasil Bumi|UD", "Gabah|Jagung Pipilan|Kopi Biji|Kakao|"
       "Cengkeh|Kelapa|Pinang|Karet", "toko", "pertanian", legal_head=False),
    _a("47302", 0.5, "Pertamini|Pom Mini|Bensin Eceran", "Bensin Eceran|Pertalite|Solar|"
       "Oli Mesin", "toko", "perdagangan", legal_head=False),
    _a("47599", 0.5, "Toko Perabot|Toko Plastik|Perabot Rumah Tangga", "Ember|Panci|Rak Piring|"
       "Kasur|Kipas Angin|Kompor Gas|Dispenser", "toko", "perdagangan"),
    _a("47723", 0.5, "Toko Jamu|Jamu|Herbal", "Jamu Kunyit Asam|Beras Kencur|Jamu Pegal Linu|"
       "Madu Hutan|Temulawak", "toko", "kesehatan_kecantikan"),
    _a("47611", 0.5, "Toko ATK|Fotokopi dan ATK|Toko Buku", "Buku Tulis|Pulpen|Kertas HVS|"
       "Map Plastik|Seragam Sekolah", "toko", "perdagangan"),
    _a("47789", 0.4, "Toko Souvenir|Pusat Souvenir|Galeri", "Kain Tenun|Patung Kayu|"
       "Gelang Manik|Kaos Daerah|Miniatur", "toko", "pariwisata",
       rh={"53": "Tenun Ikat|Galeri Tenun", "51": "Art Shop|Galeri"}),
    _a("45201", 0.3, "Bengkel Mobil|Bengkel|Auto Service", "Servis Mobil|Tune Up|Spooring|"
       "Ganti Oli|Las Ketok", "jasa", "otomotif"),
    _a("47754", 0.3, "Toko Pakan|Poultry Shop|Toko Pakan Ternak", "Pakan Ayam|Pakan Ikan|"
       "Konsentrat Sapi|Dedak|Vitamin Ternak", "toko", "pertanian"),
    _a("47763", 0.3, "Toko Tani|Kios Pupuk|Saprotan", "Pupuk Urea|Pupuk NPK|Pestisida|"
       "Bibit Padi|Benih Jagung|Cangkul", "toko", "pertanian"),
    _a("46206", 0.2, "Pengepul Ikan|Juragan Ikan|UD", "Ikan Tongkol|Ikan Cakalang|Udang|"
       "Kepiting|Rumput Laut Kering", "toko", "kelautan_perikanan", legal_head=False),
    # --- I: accommodation and food ------------------------------------------------------------
    _a("56102", 6.0, "Warung Makan|Rumah Makan|Warung Nasi|Warteg|Depot|Lesehan",
       "Nasi Rames|Soto Ayam|Nasi Pecel|Rawon|Ayam Goreng|Gado-gado|Nasi Campur|Sayur Asem|"
       "Ikan Bakar|Es Teh", "warung", "kuliner", "food_service",
       rh={"13": "Rumah Makan Padang|Nasi Kapau|Rumah Makan",
           "32": "Warung Nasi|Rumah Makan Sunda|Warung Nasi Sunda",
           "35": "Depot|Warung Makan|Warung Pecel|Warung Rawon",
           "73": "Warung Coto|Coto Makassar|Rumah Makan", "51": "Warung Nasi Campur|Warung",
           "71": "Rumah Makan|Warung Tinutuan"},
       rp={"13": "Rendang|Gulai Ayam|Dendeng Balado|Nasi Kapau|Ayam Pop|Gulai Tunjang",
           "32": "Nasi Timbel|Karedok|Ayam Goreng|Ikan Pepes|Sayur Asem|Sambal Terasi",
           "73": "Coto Makassar|Konro|Pallubasa|Ikan Bakar|Sop Saudara",
           "51": "Nasi Campur|Babi Guling|Sate Lilit|Lawar|Ayam Betutu",
           "71": "Tinutuan|Cakalang Fufu|Ikan Bakar Rica|Nasi Kuning"},
       legal_head=False),
    _a("56103", 3.0, "Bakso|Mie Ayam|Kedai|Soto|Sate|Pecel Lele|Martabak",
       "Bakso Urat|Mie Ayam|Soto Betawi|Sate Ayam|Pecel Lele|Martabak Telur|Nasi Goreng|"
       "Sate Kambing|Es Jeruk", "warung", "kuliner", "food_service",
       rh={"35": "Bakso Malang|Soto Lamongan|Sate Madura", "33": "Soto Kudus|Sate Kambing",
           "31": "Soto Betawi|Kerak Telor|Nasi Uduk"}, legal_head=False),
    _a("56104", 3.0, "Gerobak|Nasi Goreng|Angkringan|Kaki Lima|Lapak",
       "Nasi Goreng|Mi Goreng|Cilok|Siomay|Batagor|Sate Ayam|Gorengan|Nasi Kucing|Kopi Joss",
       "warung", "kuliner", "food_service",
       rh={"34": "Angkringan|Gudeg", "33": "Angkringan|Wedangan|Hik"}, legal_head=False),
    _a("56303", 1.5, "Kedai Kopi|Kopi|Kafe|Coffee Shop|Warkop",
       "Kopi Susu|Kopi Tubruk|Es Kopi Gula Aren|Teh Tarik|Roti Bakar|Pisang Goreng", "jasa",
       "pariwisata", "food_service",
       rh={"11": "Kedai Kopi|Kupi|Warung Kopi Aceh", "71": "Kedai Kopi|Kopi"},
       rp={"11": "Kopi Sanger|Kopi Gayo|Mi Aceh|Roti Canai"}),
    _a("56304", 1.5, "Es|Kedai Minuman|Jus|Teh Poci", "Es Teh Jumbo|Jus Alpukat|Es Campur|"
       "Thai Tea|Boba|Es Cendol|Es Kelapa", "warung", "kuliner", "food_service",
       legal_head=False),
    _a("56210", 0.8, "Catering|Katering|Dapur|Aqiqah", "Nasi Kotak|Prasmanan|Tumpeng|"
       "Snack Box|Aqiqah|Kue Tampah", "jasa", "kuliner", "food_service"),
    _a("56306", 0.5, "Es Keliling|Kopi Keliling|Wedang", "Es Dawet|Kopi Keliling|Wedang Jahe|"
       "Es Doger|Es Puter", "warung", "kuliner", legal_head=False),
    _a("56101", 1.0, "Restoran|Resto|Rumah Makan|Seafood", "Ikan Bakar|Ayam Bakar|Seafood|"
       "Iga Bakar|Nasi Liwet|Gurame Goreng|Es Buah", "jasa", "pariwisata", "food_service",
       rh={"13": "Restoran Padang|Rumah Makan Padang", "51": "Restaurant|Warung"}),
    _a("56290", 0.4, "Dapur Sehat|Katering|Jasa Boga", "Makan Siang Sekolah|Nasi Kotak|"
       "Menu Gizi Seimbang|Katering Harian", "jasa", "mbg", "food_service"),
    _a("56305", 0.3, "Kedai Jamu|Jamu|Wedangan", "Jamu Kunyit Asam|Beras Kencur|Wedang Uwuh|"
       "Sinom|Jamu Brotowali", "warung", "kesehatan_kecantikan", "food_service",
       legal_head=False),
    _a("55130", 0.6, "Homestay|Pondok Wisata|Guest House|Penginapan",
       "Kamar Homestay|Sarapan|Sewa Motor|Paket Wisata", "jasa", "pariwisata",
       rh={"51": "Homestay|Guest House|Villa", "52": "Homestay|Bungalow",
           "34": "Homestay|Omah"}),
    _a("55120", 0.2, "Hotel Melati|Losmen|Wisma|Penginapan", "Kamar Standar|Kamar Deluxe|"
       "Sarapan|Laundry", "jasa", "pariwisata"),
    _a("55193", 0.1, "Villa|Vila|Cottage", "Sewa Villa|Kamar Keluarga|Kolam Renang", "jasa",
       "pariwisata"),
    _a("55199", 0.1, "Kost|Kos Harian|Penginapan", "Kamar Harian|Kamar Bulanan", "jasa",
       "pariwisata"),
    # --- C: manufacturing (food first) -----------------------------------------------------------
    _a("10794", 2.5, "Keripik Tempe|Keripik Singkong|Kerupuk|Keripik Pisang|Rempeyek|"
       "Kerupuk Ikan|Keripik", "Keripik Tempe|Keripik Singkong|Kerupuk Udang|Rempeyek Kacang|"
       "Keripik Pisang|Kerupuk Kulit|Makaroni Pedas|Basreng", "usaha", "kuliner", "food_mfg",
       rh={"13": "Keripik Balado|Karupuak Sanjai", "18": "Keripik Pisang",
           "16": "Kemplang|Kerupuk Palembang", "19": "Kemplang|Kerupuk Ikan",
           "64": "Amplang", "35": "Keripik Tempe|Keripik Buah"},
       rp={"13": "Keripik Balado|Karupuak Sanjai|Keripik Jengkol", "18": "Keripik Pisang Cokelat",
           "16": "Kemplang Panggang|Kerupuk Kemplang", "64": "Amplang Ikan Pipih",
           "19": "Kemplang|Getas"}),
    _a("10710", 2.0, "Roti|Bakery|Kue|Aneka Kue|Bolu", "Roti Manis|Roti Tawar|Bolu Pandan|"
       "Brownies|Kue Kering|Lapis Legit|Kue Ulang Tahun|Bakpia", "usaha", "kuliner",
       "food_mfg", rh={"34": "Bakpia", "71": "Klappertaart|Roti Kenari"}),
    _a("10792", 1.5, "Kue Basah|Jajan Pasar|Kue|Aneka Kue Basah", "Klepon|Lemper|Nagasari|"
       "Kue Lapis|Dadar Gulung|Onde-onde|Serabi|Lupis|Kue Talam", "usaha", "kuliner",
       "food_mfg", rh={"73": "Kue Tradisional|Barongko", "13": "Lamang|Kue Bika"}),
    _a("14111", 1.2, "Konveksi|Garmen|Sablon dan Konveksi", "Kaos Polos|Seragam Sekolah|"
       "Kemeja Kerja|Kaos Sablon|Jaket|Seragam Olahraga|Gamis", "usaha", "fesyen",
       rh={"32": "Konveksi|Rajut"}),
    _a("14120", 1.0, "Penjahit|Jahit|Taylor|Modiste", "Jahit Kebaya|Seragam|Vermak|"
       "Jas|Gaun Pesta|Kemeja Batik", "jasa", "fesyen", legal_head=False),
    _a("11052", 0.8, "Depot Air Minum|Air Isi Ulang|Depot Air", "Air Isi Ulang Galon|"
       "Air RO|Air Mineral Galon", "toko", "kuliner", "water", legal_head=False),
    _a("10750", 0.8, "Frozen Food|Dapur|Olahan", "Nugget Ayam|Dimsum|Rendang Kemasan|"
       "Bakso Beku|Siomay Beku|Pempek", "usaha", "kuliner", "food_mfg",
       rh={"16": "Pempek", "13": "Rendang"}, rp={"16": "Pempek Kapal Selam|Pempek Lenjer|Tekwan",
                                                  "13": "Rendang Daging|Rendang Telur|Dendeng"}),
    _a("10391", 0.8, "Tempe|Produsen Tempe|Tempe Murni", "Tempe Bungkus Daun|Tempe Plastik|"
       "Tempe Mendoan", "usaha", "kuliner", "food_mfg"),
    _a("10392", 0.7, "Tahu|Pabrik Tahu|Tahu Sumedang", "Tahu Putih|Tahu Kuning|Tahu Goreng|"
       "Tahu Sumedang|Kembang Tahu", "usaha", "kuliner", "food_mfg",
       rh={"35": "Tahu Takwa|Tahu Kuning", "32": "Tahu Sumedang|Tahu Bandung"}),
    _a("31001", 0.7, "Mebel|Furniture|Meubel|Jati", "Lemari Jati|Kursi Tamu|Meja Makan|"
       "Tempat Tidur|Pintu Kayu|Kusen", "usaha", "kerajinan",
       rh={"33": "Mebel Jepara|Ukir Jepara|Meubel"}),
    _a("10799", 0.5, "Olahan|Aneka Makanan|Camilan", "Abon Sapi|Sambal Kemasan|Serundeng|"
       "Kacang Bawang|Emping Melinjo|Rengginang", "usaha", "kuliner", "food_mfg"),
    _a("10761", 0.5, "Kopi|Kopi Bubuk|Roastery", "Kopi Bubuk Robusta|Kopi Arabika|"
       "Kopi Luwak|Biji Kopi Sangrai", "usaha", "kuliner", "food_mfg",
       rh={"11": "Kopi Gayo", "18": "Kopi Lampung", "73": "Kopi Toraja", "51": "Kopi Kintamani"},
       rp={"11": "Kopi Gayo Arabika", "73": "Kopi Toraja Arabika",
           "51": "Kopi Kintamani Arabika"}),
    _a("10722", 0.4, "Gula Aren|Gula Merah|Gula Kelapa", "Gula Aren Cetak|Gula Semut|"
       "Gula Kelapa", "usaha", "pertanian", "food_mfg"),
    _a("10772", 0.4, "Sambal|Bumbu|Dapur Bumbu", "Sambal Bawang|Sambal Roa|Bumbu Pecel|"
       "Bumbu Rendang|Sambal Cumi", "usaha", "kuliner", "food_mfg",
       rh={"71": "Sambal Roa|Dabu-dabu"}),
    _a("13134", 0.4, "Batik|Batik Tulis|Batik Cap|Rumah Batik", "Batik Tulis|Batik Cap|"
       "Kain Batik|Kemeja Batik|Selendang Batik", "usaha", "kerajinan",
       rh={"33": "Batik Pekalongan|Batik Solo|Batik Lasem", "34": "Batik Jogja|Batik Tulis",
           "32": "Batik Trusmi|Batik Garutan", "35": "Batik Madura|Batik Tulis"}),
    _a("16291", 0.4, "Anyaman|Kerajinan Bambu|Kerajinan Rotan", "Tas Rotan|Keranjang Bambu|"
       "Tampah|Tudung Saji|Kursi Rotan|Caping", "usaha", "kerajinan"),
    _a("21022", 0.2, "Jamu|Herbal|Rumah Jamu", "Jamu Kunyit Asam|Jamu Pegal Linu|"
       "Jamu Galian Singset|Temulawak Instan|Jahe Merah Instan", "usaha",
       "kesehatan_kecantikan", "jamu"),
    _a("16293", 0.3, "Ukiran|Kerajinan Kayu|Ukir|Patung", "Patung Kayu|Relief Kayu|"
       "Topeng Kayu|Hiasan Dinding Ukir", "usaha", "kerajinan",
       rh={"51": "Ukiran Bali|Patung Kayu", "33": "Ukir Jepara"}),
    _a("32903", 0.3, "Kerajinan|Handicraft|Craft", "Hiasan Dinding|Bunga Kering|Tas Manik|"
       "Souvenir Pernikahan|Kerajinan Kerang", "usaha", "kerajinan"),
    _a("23921", 0.3, "Batu Bata|Bata Merah|Pembuatan Bata", "Batu Bata Merah|Bata Press",
       "usaha", "perumahan", legal_head=False),
    _a("25112", 0.3, "Bengkel Las|Aluminium|Kanopi|Teralis", "Pagar Besi|Kanopi|Teralis|"
       "Kusen Aluminium|Pintu Harmonika", "jasa", "perumahan"),
    _a("18111", 0.3, "Percetakan|Digital Printing|Sablon", "Undangan|Spanduk|Stiker|"
       "Kartu Nama|Banner|Kalender", "jasa", "perdagangan"),
    _a("10211", 0.3, "Ikan Asin|Ikan Kering|Pengolahan Ikan", "Ikan Asin Jambal|Teri Medan|"
       "Ikan Asin Peda|Cumi Asin", "usaha", "kelautan_perikanan", "food_mfg"),
    _a("13122", 0.2, "Tenun|Tenun Ikat|Sarung Tenun", "Kain Tenun Ikat|Selendang Tenun|"
       "Sarung Tenun|Songket", "usaha", "kerajinan",
       rh={"53": "Tenun Ikat|Tenun Sumba|Tenun Flores", "52": "Tenun Songket|Tenun Sasak",
           "16": "Songket Palembang", "13": "Songket Pandai Sikek"}),
    _a("10212", 0.2, "Ikan Asap|Pengasapan Ikan|Ikan Panggang", "Ikan Asap|Cakalang Fufu|"
       "Bandeng Asap|Lele Asap", "usaha", "kelautan_perikanan", "food_mfg",
       rh={"71": "Cakalang Fufu"}),
    _a("15121", 0.2, "Kerajinan Kulit|Tas Kulit|Leather", "Tas Kulit|Dompet Kulit|Ikat Pinggang|"
       "Jaket Kulit", "usaha", "fesyen", rh={"32": "Kulit Garut|Sukaregang"}),
    _a("15201", 0.2, "Sandal|Sepatu|Alas Kaki", "Sandal Jepit|Sepatu Kulit|Sandal Kulit|"
       "Sepatu Anak", "usaha", "fesyen", rh={"32": "Sepatu Cibaduyut"}),
    _a("10796", 0.2, "Dodol|Wajit|Jenang", "Dodol Garut|Dodol Durian|Jenang Kudus|Wajit|"
       "Lempok Durian", "usaha", "kuliner", "food_mfg"),
    _a("23932", 0.15, "Gerabah|Keramik|Tembikar", "Gentong|Cobek Tanah Liat|Pot Bunga|"
       "Kendi|Guci", "usaha", "kerajinan",
       rh={"34": "Gerabah Kasongan", "52": "Gerabah Banyumulek"}),
    _a("25931", 0.15, "Pandai Besi|Pande Besi|Kerajinan Logam", "Cangkul|Parang|Sabit|Pisau Dapur|"
       "Golok", "usaha", "pertanian"),
    _a("14302", 0.1, "Bordir|Sulaman|Kerawang", "Mukena Bordir|Kerudung Bordir|Taplak Bordir",
       "usaha", "fesyen", rh={"32": "Bordir Tasik|Kerawang"}),
    _a("31002", 0.1, "Mebel Rotan|Furniture Rotan|Rotan", "Kursi Rotan|Meja Rotan|Ayunan Rotan",
       "usaha", "kerajinan"),
    _a("23922", 0.1, "Genteng|Pembuatan Genteng", "Genteng Tanah Liat|Genteng Press", "usaha",
       "perumahan", rh={"33": "Genteng Sokka|Genteng Jatiwangi"}),
    _a("32120", 0.1, "Aksesoris|Perhiasan|Manik-manik", "Gelang Manik|Kalung Etnik|Bros|"
       "Anting Imitasi", "usaha", "fesyen"),
    _a("10298", 0.1, "Rumput Laut|Olahan Rumput Laut", "Dodol Rumput Laut|Agar-agar|"
       "Rumput Laut Kering|Keripik Rumput Laut", "usaha", "kelautan_perikanan", "food_mfg"),
    _a("11040", 0.1, "Minuman|Sari Buah|Sirup", "Sari Jeruk|Sirup Markisa|Minuman Jahe|"
       "Sari Kedelai", "usaha", "kuliner", "food_mfg", rh={"73": "Sirup Markisa"}),
    _a("30912", 0.08, "Teknik|Komponen Motor|Presisi", "Komponen Motor Listrik|Bracket Baterai|"
       "Dudukan Lampu|Komponen Rem", "usaha", "otomotif", "sni"),
    _a("29300", 0.06, "Teknik|Komponen Otomotif|Presisi|Karya Logam", "Komponen Plastik Otomotif|"
       "Karet Otomotif|Baut Khusus|Bracket Logam|Jok Mobil", "usaha", "otomotif", "sni"),
    _a("22220", 0.05, "Plastik|Kemasan|Packaging", "Kantong Plastik|Standing Pouch|"
       "Botol Plastik|Gelas Plastik", "usaha", "perdagangan", "sni"),
    _a("20231", 0.05, "Sabun|Herbal|Natural", "Sabun Sereh|Sabun Cuci Piring|Sabun Batang Herbal",
       "usaha", "kesehatan_kecantikan", "cosmetic"),
    _a("20232", 0.05, "Kosmetik|Skincare|Beauty", "Lulur|Masker Wajah|Body Lotion|Minyak Rambut",
       "usaha", "kesehatan_kecantikan", "cosmetic"),
    _a("32300", 0.03, "Sport|Olahraga|Alat Olahraga", "Bola Sepak|Shuttlecock|Raket|"
       "Jersey Olahraga|Net Voli", "usaha", "olahraga", "sni"),
    _a("32201", 0.03, "Gamelan|Alat Musik|Angklung", "Gamelan|Angklung|Kendang|Sasando",
       "usaha", "kerajinan", rh={"32": "Angklung", "53": "Sasando"}),
    _a("30111", 0.03, "Galangan Perahu|Perahu|Pinisi", "Perahu Kayu|Perahu Nelayan|Kapal Pinisi",
       "usaha", "kelautan_perikanan", rh={"73": "Pinisi"}),
    # --- A: agriculture and fisheries -------------------------------------------------------------
    _a("01122", 0.5, "Tani|Sawah|Usaha Tani", "Gabah Kering|Beras|Padi", "usaha", "pertanian",
       legal_head=False),
    _a("03111", 0.5, "Nelayan|Kapal|Perahu", "Ikan Tongkol|Ikan Cakalang|Ikan Kembung|"
       "Ikan Tenggiri|Cumi", "usaha", "kelautan_perikanan", legal_head=False),
    _a("03221", 0.4, "Kolam Lele|Budidaya Ikan|Kolam Ikan|Lele", "Ikan Lele|Ikan Nila|"
       "Ikan Gurame|Ikan Mas|Bibit Ikan", "usaha", "kelautan_perikanan"),
    _a("01131", 0.4, "Kebun Sayur|Tani|Hortikultura", "Sawi|Bayam|Kangkung|Selada|Daun Bawang",
       "usaha", "pertanian"),
    _a("01133", 0.3, "Kebun|Tani|Kebun Sayur", "Tomat|Terong|Timun|Cabai Merah|Paprika", "usaha",
       "pertanian"),
    _a("01461", 0.3, "Peternakan Ayam|Kandang Ayam|Ternak Ayam", "Ayam Broiler|Ayam Pedaging",
       "usaha", "pertanian"),
    _a("01442", 0.3, "Ternak Kambing|Peternakan Kambing|Kandang Kambing", "Kambing Etawa|"
       "Kambing Kacang|Susu Kambing|Kambing Aqiqah", "usaha", "pertanian"),
    _a("01411", 0.3, "Ternak Sapi|Peternakan Sapi|Kandang Sapi", "Sapi Potong|Sapi Bali|"
       "Pupuk Kandang", "usaha", "pertanian"),
    _a("01132", 0.2, "Kebun Buah|Tani Buah", "Jeruk|Durian|Alpukat|Pepaya California|Nanas",
       "usaha", "pertanian"),
    _a("01283", 0.2, "Kebun Cabai|Tani Cabai", "Cabai Rawit|Cabai Merah Keriting", "usaha",
       "pertanian"),
    _a("01462", 0.2, "Peternakan Ayam Petelur|Ternak Ayam Petelur", "Telur Ayam Ras|Ayam Afkir",
       "usaha", "pertanian"),
    _a("01464", 0.2, "Ternak Ayam Kampung|Ayam Kampung", "Ayam Kampung|Telur Ayam Kampung|"
       "Bibit Ayam Kampung", "usaha", "pertanian"),
    _a("01270", 0.2, "Kebun|Perkebunan Rakyat|Tani", "Kopi Gelondong|Biji Kakao|Pucuk Teh",
       "usaha", "pertanian"),
    _a("03254", 0.1, "Tambak Udang|Tambak|Tambak Bandeng", "Udang Vaname|Udang Windu|Kepiting",
       "usaha", "kelautan_perikanan"),
    _a("03217", 0.1, "Budidaya Rumput Laut|Rumput Laut", "Rumput Laut Kering|Rumput Laut Basah",
       "usaha", "kelautan_perikanan"),
    _a("01301", 0.1, "Tanaman Hias|Nursery|Taman", "Anggrek|Aglonema|Monstera|Bibit Bunga",
       "usaha", "pertanian"),
    _a("01497", 0.03, "Walet|Rumah Walet", "Sarang Burung Walet", "usaha", "pertanian"),
    _a("01493", 0.02, "Madu|Ternak Lebah|Madu Hutan", "Madu Murni|Madu Klanceng|Propolis",
       "usaha", "pertanian"),
    # --- S: other services ----------------------------------------------------------------------
    _a("96200", 0.9, "Laundry|Binatu|Laundry Kiloan", "Cuci Kiloan|Cuci Setrika|Dry Clean|"
       "Cuci Karpet|Cuci Sepatu", "jasa", "jasa_lainnya"),
    _a("96112", 0.6, "Salon|Salon Kecantikan|Beauty Salon|Rias Pengantin", "Potong Rambut|"
       "Creambath|Rias Pengantin|Smoothing|Facial|Make Up", "jasa", "kesehatan_kecantikan"),
    _a("96111", 0.5, "Pangkas Rambut|Barbershop|Cukur", "Potong Rambut|Cukur Jenggot|"
       "Hair Tonic", "jasa", "jasa_lainnya", rh={"32": "Cukur Garut|Pangkas Rambut Garut"}),
    _a("95291", 0.3, "Vermak|Permak Levis|Jahit Vermak", "Potong Celana|Ganti Resleting|"
       "Permak Jeans", "jasa", "fesyen", legal_head=False),
    _a("95120", 0.3, "Servis HP|Service Ponsel|Cell Service", "Ganti LCD|Servis HP|"
       "Flash Software|Ganti Baterai", "jasa", "jasa_lainnya"),
    _a("95210", 0.2, "Servis Elektronik|Service TV|Elektronik", "Servis TV|Servis Kulkas|"
       "Servis Mesin Cuci|Servis AC", "jasa", "jasa_lainnya"),
    _a("96121", 0.1, "Pijat|Pijat Tradisional|Refleksi", "Pijat Urut|Refleksi|Kerokan",
       "jasa", "kesehatan_kecantikan", legal_head=False),
    _a("96122", 0.05, "Spa|Bali Spa|Day Spa", "Balinese Massage|Lulur|Facial|Body Scrub",
       "jasa", "pariwisata"),
    _a("95230", 0.05, "Sol Sepatu|Servis Sepatu|Reparasi Tas", "Sol Sepatu|Jahit Tas|"
       "Cat Sepatu", "jasa", "jasa_lainnya", legal_head=False),
    _a("96990", 0.05, "Rias Pengantin|Dekorasi|Wedding", "Rias Pengantin|Sewa Baju Pengantin|"
       "Dekorasi Pelaminan", "jasa", "jasa_lainnya"),
    # --- H: transport ---------------------------------------------------------------------------
    _a("49424", 0.6, "Ojek|Ojek Pangkalan|Ojek", "Antar Penumpang|Antar Barang", "jasa",
       "transportasi", legal_head=False),
    _a("49431", 0.4, "Angkutan Barang|Ekspedisi|Pick Up", "Angkut Barang|Pindahan Rumah|"
       "Angkut Hasil Panen", "jasa", "transportasi"),
    _a("53201", 0.15, "Kurir|Ekspedisi|Antar", "Kirim Paket|Kurir Lokal|Titip Belanja", "jasa",
       "transportasi"),
    _a("49425", 0.1, "Travel Wisata|Jeep Wisata|Trans", "Jeep Wisata|Antar Jemput Bandara|"
       "Paket Tur", "jasa", "pariwisata", rh={"35": "Jeep Bromo", "34": "Jeep Merapi"}),
    _a("49422", 0.1, "Rental Mobil|Travel|Sewa Mobil", "Sewa Mobil dengan Sopir|Antar Kota",
       "jasa", "transportasi"),
    _a("50213", 0.05, "Perahu Wisata|Kapal Wisata|Speedboat", "Perahu Wisata|Snorkeling Trip|"
       "Island Hopping", "jasa", "pariwisata"),
    # --- N: travel agencies, rental, office support ---------------------------------------------
    _a("82190", 0.25, "Fotokopi|Copy Center|Foto Copy", "Fotokopi|Jilid|Print Dokumen|Laminating",
       "jasa", "jasa_lainnya"),
    _a("77291", 0.2, "Sewa Tenda|Dekorasi|Rental Alat Pesta", "Sewa Tenda|Sewa Kursi|"
       "Sound System|Dekorasi Pesta", "jasa", "jasa_lainnya"),
    _a("79111", 0.15, "Tour|Travel|Wisata", "Paket Wisata|Tiket Pesawat|Tour Lokal", "jasa",
       "pariwisata"),
    _a("77100", 0.15, "Rental Mobil|Sewa Mobil|Rent Car",
       "Sewa Mobil Harian|Sewa Mobil Lepas Kunci", "jasa", "pariwisata"),
    _a("79921", 0.05, "Pemandu Wisata|Guide|Tour Guide", "Pemandu Wisata|Trekking|Tur Budaya",
       "jasa", "pariwisata", legal_head=False),
    # --- R: arts, recreation, sport ------------------------------------------------------------
    _a("93233", 0.15, "Kolam Pancing|Pemancingan", "Tiket Mancing|Ikan Bakar|Sewa Joran", "jasa",
       "pariwisata"),
    _a("90011", 0.1, "Sanggar|Sanggar Seni|Grup Kesenian", "Pertunjukan Tari|Gamelan|"
       "Kuda Lumping|Reog", "jasa", "pariwisata", rh={"51": "Sanggar Tari|Sekaa Gong"}),
    _a("93114", 0.1, "Lapangan Futsal|Futsal|Lapangan Badminton", "Sewa Lapangan Futsal|"
       "Sewa Lapangan Badminton", "jasa", "olahraga"),
    _a("93232", 0.05, "Taman Wisata|Wisata Alam|Agrowisata", "Tiket Masuk|Flying Fox|Spot Foto",
       "jasa", "pariwisata"),
    _a("93292", 0.05, "Karaoke|Family Karaoke", "Sewa Room Karaoke|Minuman", "jasa",
       "pariwisata"),
    # --- P, M, F, Q, E, B ------------------------------------------------------------------------
    _a("85495", 0.2, "Bimbel|Les Privat|Bimbingan Belajar", "Les Matematika|Les Calistung|"
       "Bimbel SD|Persiapan UTBK", "jasa", "jasa_lainnya"),
    _a("85499", 0.05, "Kursus Menjahit|Kursus|LKP", "Kursus Menjahit|Kursus Tata Rias|"
       "Kursus Komputer", "jasa", "jasa_lainnya"),
    _a("85493", 0.05, "Kursus Bahasa|English Course|Kampung Inggris", "Kursus Bahasa Inggris|"
       "Kursus Bahasa Arab", "jasa", "jasa_lainnya"),
    _a("74201", 0.2, "Studio Foto|Foto|Photography", "Pas Foto|Foto Wisuda|Foto Prewedding|"
       "Dokumentasi Acara", "jasa", "jasa_lainnya"),
    _a("74130", 0.1, "Desain|Creative|Studio Desain", "Desain Logo|Desain Kemasan|"
       "Desain Undangan", "jasa", "jasa_lainnya"),
    _a("43211", 0.1, "Teknik Listrik|Instalasi Listrik|Elektrik", "Instalasi Listrik Rumah|"
       "Pasang Meteran|Perbaikan Listrik", "jasa", "perumahan"),
    _a("41011", 0.1, "Pemborong|Jasa Bangun Rumah|Kontraktor", "Bangun Rumah|Renovasi Rumah|"
       "Pasang Keramik", "jasa", "perumahan"),
    _a("86902", 0.1, "Pengobatan Tradisional|Bekam|Pijat Urut", "Bekam|Urut Patah Tulang|"
       "Totok Darah|Akupresur", "jasa", "kesehatan_kecantikan", legal_head=False),
    _a("38302", 0.06, "Bank Sampah|Pengepul Rongsok|Barang Bekas", "Plastik Bekas|Kardus Bekas|"
       "Botol Bekas|Kertas Bekas", "usaha", "jasa_lainnya"),
    _a("38212", 0.04, "Kompos|Pupuk Organik", "Pupuk Kompos|Pupuk Organik Cair|Maggot BSF",
       "usaha", "pertanian"),
    _a("08104", 0.05, "Galian Pasir|Tambang Pasir|Pasir", "Pasir Urug|Pasir Pasang|Sirtu", "usaha",
       "pertambangan_energi"),
    _a("08101", 0.03, "Tambang Batu|Batu Alam|Galian Batu", "Batu Kali|Batu Split|Batu Alam Hias",
       "usaha", "pertambangan_energi"),
    _a("08930", 0.02, "Garam Rakyat|Tambak Garam|Garam", "Garam Krosok|Garam Rakyat", "usaha",
       "pertambangan_energi", rh={"35": "Garam Madura|Garam Rakyat"}),
)
# fmt: on


@dataclass(frozen=True)
class Catalog:
    activities: tuple[Activity, ...]
    probabilities: tuple[float, ...]  # per activity, summing to 1
    sections: tuple[str, ...]  # KBLI kategori letter per activity


@cache
def catalog() -> Catalog:
    """The activities with weight > 0, their draw probabilities and sections (checked codes)."""
    table = kbli()
    chosen = [a for a in _ACTIVITIES if a.weight > 0]
    seen: set[str] = set()
    sections: list[str] = []
    for activity in chosen:
        entry = table.get(activity.code)
        if entry is None or entry.level != "kelompok":
            raise ValueError(f"synthetic catalogue: KBLI 2020 {activity.code} is not a kelompok")
        if activity.code in seen:
            raise ValueError(f"synthetic catalogue: KBLI {activity.code} listed twice")
        if not activity.heads or not activity.products:
            raise ValueError(f"synthetic catalogue: KBLI {activity.code} has no heads/products")
        seen.add(activity.code)
        sections.append(entry.section)
    totals: dict[str, float] = {}
    for activity, section in zip(chosen, sections, strict=True):
        totals[section] = totals.get(section, 0.0) + activity.weight
    missing = set(SECTION_SHARES) - set(totals)
    if missing or set(totals) - set(SECTION_SHARES):
        raise ValueError(f"synthetic catalogue: sections without activities/shares: {missing}")
    probabilities = tuple(
        SECTION_SHARES[s] * a.weight / totals[s] for a, s in zip(chosen, sections, strict=True)
    )
    return Catalog(tuple(chosen), probabilities, tuple(sections))
