"""Word lists for synthetic people, business names and addresses, with regional flavour.

Every person belongs to a naming group (Javanese, Sundanese, Batak, Minang, Bugis, Balinese, ...)
chosen from the province (and a few kabupaten) of the business. The lists are plausible, not a
census: they exist so demo data reads like Indonesia, not to model it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Faith = Literal["muslim", "christian", "hindu", "neutral"]


def _w(text: str) -> tuple[str, ...]:
    """Split a whitespace list; `_` inside a word stands for a space ("Ni_Luh" -> "Ni Luh")."""
    return tuple(word.replace("_", " ") for word in text.split())


@dataclass(frozen=True)
class NameGroup:
    key: str
    male: tuple[str, ...]
    female: tuple[str, ...]
    male_second: tuple[str, ...] = ()
    female_second: tuple[str, ...] = ()
    family: tuple[str, ...] = ()  # surname / marga / fam, appended with `p_family`
    p_family: float = 0.0
    p_second: float = 0.6  # a second given name (when no family name was added)
    male_prefix: tuple[str, ...] = ()  # "Andi", "Lalu", "I Gusti Ngurah" ...
    female_prefix: tuple[str, ...] = ()
    p_prefix: float = 0.0
    honorific_male: tuple[str, ...] = ("Pak",)
    honorific_female: tuple[str, ...] = ("Bu",)
    faith: Faith = "muslim"
    hamlet_word: str = "Dusun"  # the unit below a desa: Dusun, Kampung, Jorong, Banjar ...
    hamlets: tuple[str, ...] = ()
    bali: bool = False  # Balinese birth-order names (Wayan, Made, Nyoman, Ketut)
    skip_call: frozenset[str] = field(default_factory=frozenset)  # never used as a call name


_MUSLIM_SKIP = frozenset({"Muhammad", "Mohammad", "Moh.", "Ahmad", "Abd.", "Abdul", "M."})

_JAVA_HAMLETS = _w(
    "Krajan Karanganyar Sidomulyo Tegalrejo Kauman Ngemplak Wetan Kulon Lor Kidul Sumbersari "
    "Karangrejo Sukorejo Sidorejo Margomulyo Ngasem Jatisari Banaran Gondang Sumberejo Kedungrejo "
    "Tanjungsari Mulyorejo Plosorejo Ngrowo Randusari Pucung Salam Tambakrejo Wonosari"
)

GROUPS: dict[str, NameGroup] = {
    g.key: g
    for g in (
        NameGroup(
            "jawa",
            male=_w(
                "Slamet Sugeng Budi Joko Darto Suparman Sutrisno Bambang Agus Eko Heru Wahyu "
                "Teguh Suyanto Sukirman Paijo Parno Warsito Mulyono Sugiyanto Hadi Yanto Dwi Tri "
                "Rudi Ahmad Muhammad Imam Arif Rahmat Supri Darmaji Bayu Fajar Dimas Adi Ari "
                "Sarno Tukiman Wagiman Sumarno Kasno Giyanto Harno Triyono Margono Priyo Yusuf"
            ),
            female=_w(
                "Sri Siti Wahyuni Suharti Sumiati Sulastri Suparmi Painem Tumini Lestari Endang "
                "Yuli Rini Dewi Ratna Wulan Tri Dwi Ani Yanti Nur Kartini Puji Tutik Indah Retno "
                "Ayu Fitri Nurul Umi Ning Murni Sumarni Tukinem Sarinah Jumiyem Marsih Suwarni"
            ),
            male_second=_w(
                "Santoso Susilo Prasetyo Widodo Nugroho Riyadi Purnomo Wibowo Hartono Setiawan "
                "Kurniawan Hidayat Saputro Utomo Raharjo Wicaksono Sutrisno Haryanto Suwarno "
                "Mulyadi Sugiarto Pamungkas Budiman Firmansyah Cahyono"
            ),
            female_second=_w(
                "Wahyuni Lestari Rahayu Handayani Astuti Utami Susanti Wulandari Purwanti Aminah "
                "Maryam Fatimah Kusumawati Ningsih Rahmawati Setyowati Suryani Mulyani Winarti "
                "Nurhayati Pratiwi Safitri Anggraini Puspitasari"
            ),
            p_second=0.7,
            honorific_male=_w("Pak Pak Pak Mas Cak"),
            honorific_female=_w("Bu Bu Bu Mbak Mbok"),
            hamlets=_JAVA_HAMLETS,
            skip_call=_MUSLIM_SKIP,
        ),
        NameGroup(
            "sunda",
            male=_w(
                "Asep Ujang Dede Cecep Dadang Yayan Ade Tatang Entis Iwan Dedi Deden Aep Engkus "
                "Encep Jajang Endang Yusuf Agus Hendra Rudi Dodi Usep Wawan Ayi Kusnadi Oman "
                "Ujang Dadan Acep Ilham Rahmat Yana Ruhiyat Undang Dayat"
            ),
            female=_w(
                "Euis Neneng Iis Eneng Imas Cucu Yeni Popon Enok Lilis Nining Tati Entin Ai "
                "Elis Nani Rina Wida Siti Nur Nia Dewi Yayah Cicih Eha Enung Oneng Titin Atikah"
            ),
            male_second=_w(
                "Suryana Sutisna Hidayat Permana Saputra Rahmat Supriatna Sumarna Kurniawan "
                "Gunawan Hermawan Setiawan Firmansyah Nugraha Mulyana Sopandi Sudrajat Suherman "
                "Ruhimat Ramdani Sobari Kusnadi"
            ),
            female_second=_w(
                "Rahayu Sukmawati Nurhayati Kurniasih Rosita Komalasari Maryani Suryani Herlina "
                "Fitriani Sumiati Mulyani Rohaeni Nuraeni Rosmiati Kartika Lestari Nurjanah"
            ),
            p_second=0.65,
            honorific_male=_w("Pak Pak Kang Mang Abah"),
            honorific_female=_w("Bu Bu Teh Ceu Bi"),
            hamlet_word="Kp.",
            hamlets=_w(
                "Babakan Cibodas Cikaret Sukamaju Sukajaya Sukasari Cijeruk Cimanggu Pasirjaya "
                "Bojong Ciherang Tegalwaru Leuwiliang Cibeureum Sindangsari Mekarsari Margahayu "
                "Cipanas Nagrak Ciloa Pasanggrahan Sukarame Cikondang Neglasari Cisalak"
            ),
            skip_call=_MUSLIM_SKIP,
        ),
        NameGroup(
            "betawi",
            male=_w(
                "Mamat Udin Rojali Sabeni Mandra Jaelani Amir Syafei Muhidin Basri Sanusi Ridwan "
                "Rahmat Hasan Fadli Maman Jamal Mursid Somad Rohim Zainal"
            ),
            female=_w(
                "Atik Juleha Rohaya Munaroh Mimin Romlah Zaenab Nurlela Hamidah Mariam Rohimah "
                "Aisyah Fatmawati Marni Enah Saodah Julaeha"
            ),
            male_second=_w("Saputra Hidayat Ramadhan Firdaus Maulana Rahman Effendi Sulaiman"),
            female_second=_w("Hasanah Rahmawati Aini Maesaroh Fitriani Safitri Nurjanah"),
            p_second=0.55,
            honorific_male=_w("Bang Pak Pak Babe"),
            honorific_female=_w("Mpok Bu Bu Nyak"),
            hamlet_word="Kp.",
            hamlets=_w("Bali Melayu Rambutan Duri Pulo Baru Makassar Tengah Sawah Gedong Poncol"),
            skip_call=_MUSLIM_SKIP,
        ),
        NameGroup(
            "madura",
            male=_w(
                "Moh. Abd. Fathorrahman Sulaiman Marsuki Mattasan Subairi Holis Hosnan Hasan "
                "Syamsul Samsul Juhri Rasid Mahfud Zainuddin Ahmad Fauzi Hairul Suhaimi"
            ),
            female=_w(
                "Maryam Aisyah Halimah Masrufah Hatijah Suhartini Juma'ati Sitti Rohmah Nurhasanah "
                "Saniyah Mahmudah Zubaidah Musyarofah Rukayyah Hafsah"
            ),
            male_second=_w(
                "Rahman Hasan Hamid Syafi'i Sholeh Hasyim Rasyid Mursyid Kholil Anwar Junaidi"
            ),
            female_second=_w("Aminah Zahroh Munawaroh Hasanah Fatimah Jamilah Qomariyah"),
            p_second=0.6,
            honorific_male=_w("Pak Pak Cak Mas"),
            honorific_female=_w("Bu Bu Mbak Yu"),
            hamlets=_w("Laok Daja Temor Barat Tengah Kebun Karang Sumber Pesisir Pakong"),
            skip_call=_MUSLIM_SKIP,
        ),
        NameGroup(
            "minang",
            male=_w(
                "Afrizal Zulkifli Syafrudin Rusli Yusrizal Erwin Hendri Defri Rahmat Fauzan "
                "Irwan Yudi Syahrial Zulhendri Novrizal Dedi Alfian Asril Jasrizal Buyung "
                "Mardianto Syamsir Elfizar Yondri"
            ),
            female=_w(
                "Yusnidar Rosmaini Nurhayati Desmawati Yulia Rita Elvi Yenni Fitri Nelly "
                "Asmaniar Zurniati Syafni Efrida Mardiyah Ernita Yusmaneli Rosnelli Zulfa"
            ),
            family=_w("Chaniago Piliang Tanjung Koto Sikumbang Jambak Guci Melayu Caniago Panai"),
            p_family=0.25,
            male_second=_w("Putra Syahputra Effendi Amir Hamzah Saputra Rahman Yusuf"),
            female_second=_w("Sari Wati Putri Yanti Fitri Novita Dewi Susanti"),
            p_second=0.4,
            honorific_male=_w("Uda Pak Pak Ajo"),
            honorific_female=_w("Uni Bu Bu Etek"),
            hamlet_word="Jorong",
            hamlets=_w(
                "Koto_Tinggi Padang_Laweh Kampung_Tangah Balai_Gadang Sungai_Pua Batang_Tabik "
                "Pasar_Usang Lubuk_Aro Koto_Baru Tanjung_Alam Simpang_Ampek Guguak"
            ),
        ),
        NameGroup(
            "batak",
            male=_w(
                "Robert Hotman Parlindungan Sahat Togar Binsar Marihot Poltak Bonar Jhonson "
                "Daniel Samuel Ricky Hendra Lamhot Maruli Tumpal Sardi Ahmad Muhammad Syahrul "
                "Ismail Mangasa Ronald Benny Jonner Tigor"
            ),
            female=_w(
                "Rosmawati Lasmaria Tiurma Duma Rugun Sondang Mariani Hotmaida Tiur Nurhayati "
                "Rina Erlina Masniari Romauli Sri Dame Rotua Lisbet Herawati Juliana"
            ),
            family=_w(
                "Siregar Nasution Harahap Lubis Simanjuntak Sitompul Hutapea Simatupang "
                "Situmorang Sinaga Pardede Panjaitan Manurung Sihombing Napitupulu Hutagalung "
                "Tambunan Simbolon Silalahi Sitorus Damanik Saragih Purba Ginting Sembiring "
                "Tarigan Pasaribu Hasibuan Marpaung Butarbutar"
            ),
            p_family=0.9,
            p_second=0.2,
            honorific_male=_w("Pak Pak Bang Amang"),
            honorific_female=_w("Bu Bu Kak Inang"),
            faith="christian",
            hamlets=_w("I II III IV V VI VII VIII"),
            skip_call=_MUSLIM_SKIP,
        ),
        NameGroup(
            "melayu",
            male=_w(
                "Muhammad Ahmad Syahrul Zainal Rizal Hasan Amran Darmawan Fauzi Hamdan Iskandar "
                "Junaidi Khairul Azhar Rudi Effendi Herman Syamsul Ridwan Wahyudi Firdaus Rahmat "
                "Zulkarnain Syafril Jamaluddin Hendri"
            ),
            female=_w(
                "Nurhayati Siti Rohani Salmah Zubaidah Aisyah Maimunah Fatimah Rosidah Juliana "
                "Erna Yanti Nurul Dewi Hasnah Mariam Wati Aminah Halimah Rosnani Asmah Zainab"
            ),
            male_second=_w(
                "Hasan Ali Effendi Syahputra Hamid Rahman Saputra Ismail Yusuf Abdullah Arifin "
                "Hidayat Gani Harun Zakaria"
            ),
            female_second=_w("Hasanah Aini Wati Sari Fitriani Lestari Rahmah Yanti Zahara Wulan"),
            p_second=0.6,
            honorific_male=_w("Pak Pak Bang Wak"),
            honorific_female=_w("Bu Bu Kak Mak"),
            hamlets=_w(
                "Sungai_Baru Tanjung_Harapan Parit_Satu Parit_Dua Sei_Lala Pulau_Besar "
                "Air_Putih Teluk_Dalam Simpang_Tiga Bukit_Batu Lubuk_Raya Tebing_Tinggi"
            ),
            skip_call=_MUSLIM_SKIP,
        ),
        NameGroup(
            "aceh",
            male=_w(
                "Muhammad Zulfikar Fauzan Murdani Syarifuddin Mukhlis Irwansyah Azwar Mahdi "
                "Iskandar Husaini Nasruddin Fakhrurrazi Safrizal Khairul Teuku Rizki Munawar"
            ),
            female=_w(
                "Nurul Rahmawati Fitriani Nurhayati Zahra Maulida Ainun Rosmiati Husna Mutia "
                "Salmiah Khadijah Cut Intan Marlina Asmaul Yusnidar"
            ),
            male_second=_w("Ibrahim Yusuf Hasan Abdullah Ismail Daud Saifullah Mahmud Hamzah"),
            female_second=_w("Hanum Aini Fitri Zahara Safitri Rahmi Maghfirah Husna"),
            p_second=0.6,
            honorific_male=_w("Pak Pak Bang Apa"),
            honorific_female=_w("Bu Bu Kak Ma"),
            hamlets=_w("Tgk_Dipulo Meunasah Blang Teungoh Baroh Tunong Lampoh Mesjid Krueng"),
            skip_call=_MUSLIM_SKIP | {"Teuku", "Cut"},
        ),
        NameGroup(
            "bugis",
            male=_w(
                "Muhammad Syamsuddin Hasanuddin Baharuddin Jamaluddin Amiruddin Abdul Rahman "
                "Haeruddin Mustafa Arifin Asri Irfan Syahrir Sudirman Ambo Baso Lawa Nasrun "
                "Ridwan Akbar Kaharuddin Jufri Tamrin"
            ),
            female=_w(
                "Sitti Nurhayati Hasniah Hasmawati Rosdiana Nurhaedah Suriani Nurjannah Asmawati "
                "Hasnah Irmawati Rahmawati Syamsiah Nurbaya Hadijah Besse Marwah Hariani Sukmawati"
            ),
            male_second=_w("Rahman Hamid Latif Tang Sulaiman Ali Hamzah Jafar Rasyid Nur Idris"),
            female_second=_w("Rahman Nur Hasan Yusuf Hamid Amir Daeng Sanusi"),
            p_second=0.55,
            male_prefix=_w("Andi"),
            female_prefix=_w("Andi"),
            p_prefix=0.08,
            honorific_male=_w("Pak Pak Daeng Puang"),
            honorific_female=_w("Bu Bu Daeng Puang"),
            hamlets=_w(
                "Bontoa Tamalate Borong Bulukunyi Lembang Salomoni Kalukuang Pattiro Tanete "
                "Lapadde Mattirowalie Bonto_Manai"
            ),
            skip_call=_MUSLIM_SKIP | {"Andi"},
        ),
        NameGroup(
            "bali",
            male=_w(
                "Sudarsana Artawan Suardana Wirawan Sukadana Widana Astawa Mertayasa Suarjana "
                "Adnyana Darmawan Budiarta Putra Sanjaya Wiratama Suparta Sumerta Arimbawa"
            ),
            female=_w(
                "Ayu Ariani Suartini Sukerti Murni Sumiarti Ariasih Sudiartini Wahyuni Rasmini "
                "Suastini Ratih Dewi Sari Kartini Sriasih Budiasih Wartini"
            ),
            male_prefix=_w("Ida_Bagus I_Gusti_Ngurah Anak_Agung_Gede I_Gusti_Made"),
            female_prefix=_w("Ida_Ayu I_Gusti_Ayu Anak_Agung_Ayu Desak_Made"),
            p_prefix=0.1,
            honorific_male=_w("Pak Pak Bli Pan"),
            honorific_female=_w("Bu Bu Mbok Men"),
            faith="hindu",
            hamlet_word="Banjar",
            hamlets=_w(
                "Kaja Kelod Tengah Dangin_Peken Dauh_Peken Pekandelan Tegal Anyar Sakenan "
                "Pande Kangin Kauh Delod_Pasar"
            ),
            bali=True,
        ),
        NameGroup(
            "sasak",
            male=_w(
                "Muhammad Zainuddin Hamdi Sahnun Jumadil Rusdi Suhaimi Sahwan Saparudin Mahsun "
                "Zulkarnaen Sapii Murdi Hasbi Amrullah Sahrul"
            ),
            female=_w(
                "Nurul Hikmah Rohani Sumiati Saodah Marniah Halimah Juhaini Rukiah Sahnim "
                "Mahnah Masyitah Nurhasanah"
            ),
            male_second=_w("Hadi Ramdhani Hidayat Azhari Fahmi Saputra Maulana"),
            female_second=_w("Hayati Wahyuni Rahmawati Fitriani Safitri Hasanah"),
            p_second=0.5,
            male_prefix=_w("Lalu"),
            female_prefix=_w("Baiq"),
            p_prefix=0.12,
            honorific_male=_w("Pak Pak Amaq"),
            honorific_female=_w("Bu Bu Inaq"),
            hamlets=_w("Karang_Baru Montong Lendang Bagek Orong Sukadana Bun Gubuk_Daya Repok"),
            skip_call=_MUSLIM_SKIP | {"Lalu", "Baiq"},
        ),
        NameGroup(
            "ntt",
            male=_w(
                "Yohanes Petrus Paulus Stefanus Fransiskus Antonius Yosef Marthen Simon Yakobus "
                "Dominikus Agustinus Kornelis Melkianus Aloysius Yeremias Benediktus Arnoldus"
            ),
            female=_w(
                "Maria Yuliana Agustina Theresia Margaretha Katarina Elisabeth Veronika Fransiska "
                "Yohana Dorkas Sarlota Martha Regina Florentina Imelda"
            ),
            family=_w(
                "Fernandez Da_Costa Ndolu Manafe Bria Seran Tefa Kolo Nahak Tanesib Lay Nope "
                "Wadu Bere Tallo Radja Hurek Koten Lewar Ola Keraf Amalo Fanggidae Mesakh Ratu "
                "Lado Dhae Ledo Pah"
            ),
            p_family=0.9,
            p_second=0.2,
            honorific_male=_w("Pak Bapa Om"),
            honorific_female=_w("Bu Mama Mama"),
            faith="christian",
            hamlets=_w("A B C Oebelo Oesao Nunbaun Naioni Fatukoa Bello Sikumana Oelnasi"),
        ),
        NameGroup(
            "dayak",
            male=_w(
                "Agustinus Yohanes Paulus Stefanus Markus Lukas Fransiskus Yakobus Daniel "
                "Petrus Ambrosius Natalis Sabinus Kornelis"
            ),
            female=_w(
                "Maria Yuliana Lusia Theresia Agata Rosalia Bernadeta Natalia Sisilia "
                "Veronika Yosefa Anastasia"
            ),
            family=_w("Narang Nyahu Ngabut Lawing Ingan Ding Usat Lajang Anyi Bilung Jalung Luhat"),
            p_family=0.6,
            p_second=0.2,
            honorific_male=_w("Pak Pak Bapak"),
            honorific_female=_w("Bu Bu Mama"),
            faith="christian",
            hamlets=_w("Betang Tumbang Sungai_Ulu Rantau Pahandut Kereng Sei_Gohong"),
        ),
        NameGroup(
            "banjar",
            male=_w(
                "Muhammad Ahmad Rusdi Anang Rahmadi Syarifudin Saberan Arbain Jumberi Masrani "
                "Fahriannor Mahyuni Gusti Rijani Husin Aspiannor Norhadi Samsuni"
            ),
            female=_w(
                "Galuh Siti Jamilah Masitah Rusmilawati Norhayati Mariatul Rahmah Salasiah "
                "Fatimah Hayati Noorjannah Rabiatul Mahrita Raudah Hairiah"
            ),
            male_second=_w("Syahrani Noor Rahman Hidayat Rijani Ansyari Arsyad Zakaria"),
            female_second=_w("Hayati Jannah Rahmah Fitriani Qibtiyah Aulia"),
            p_second=0.55,
            honorific_male=_w("Pak Pak Julak Amang"),
            honorific_female=_w("Bu Bu Acil Acil"),
            hamlets=_w("RT Kampung_Baru Sungai_Lulut Alalak Pekauman Kelayan Pasar_Lama"),
            skip_call=_MUSLIM_SKIP | {"Gusti", "Galuh"},
        ),
        NameGroup(
            "manado",
            male=_w(
                "Johny Ferry Hendrik Jefry Max Roy Stenly Frangky Deddy Marthen Rio Jemmy "
                "Alfrets Donald Noldy Fredy Ronny Steven Vecky Herry"
            ),
            female=_w(
                "Meiske Lenny Olvie Jeane Grace Vivi Novita Christine Debby Margaretha Sisca "
                "Stella Feybe Marlyn Shinta Tinneke Yolanda Deisy"
            ),
            family=_w(
                "Rumondor Wenas Lumowa Sumampouw Tumbelaka Pangemanan Rondonuwu Mandagi Kaunang "
                "Lumintang Sondakh Tumiwa Warouw Lengkong Supit Pantow Lasut Mamahit Rumengan "
                "Tangkilisan Worang Kalalo Sumual Karamoy Tambuwun Mangindaan Wowor Sigar Paat"
            ),
            p_family=0.92,
            p_second=0.15,
            honorific_male=_w("Om Pak Pak Bung"),
            honorific_female=_w("Tante Bu Bu Ci"),
            faith="christian",
            hamlet_word="Jaga",
            hamlets=_w("I II III IV V VI VII VIII IX X"),
        ),
        NameGroup(
            "maluku",
            male=_w(
                "Yopie Johanis Marthinus Hendrik Yakob Abraham Frans Semuel Petrus Daud "
                "Muhammad Hasan Abdullah Ali Ismail Rahim Salim Umar"
            ),
            female=_w(
                "Yosina Maria Selvi Magdalena Elisabeth Paulina Martha Ester Yuliana "
                "Fatima Siti Nur Aisa Halima Rosna Saadia"
            ),
            family=_w(
                "Latuconsina Tuasikal Pattinasarany Tuhumury Matulessy Pattiradjawane "
                "Leiwakabessy Sahetapy Wattimena Siahaya Nanlohy Lekatompessy Pelupessy Ohorella "
                "Marasabessy Tuanaya Umasugi Sangadji Tomagola Kaicil Mahulette Soplanit"
            ),
            p_family=0.9,
            p_second=0.15,
            honorific_male=_w("Bung Pak Om Bapa"),
            honorific_female=_w("Usi Bu Mama Tante"),
            faith="neutral",
            hamlets=_w("Air_Salobar Batu_Merah Waiheru Kayu_Putih Soya Hative Tulehu Passo"),
        ),
        NameGroup(
            "papua",
            male=_w(
                "Yohanis Markus Yakob Lukas Obed Nikolas Yulius Hendrik Septinus Otniel Elias "
                "Daniel Marthen Benny Natalis Frans Yance Teddy Alex Isak"
            ),
            female=_w(
                "Maria Yosina Selvina Orpa Yuliana Martha Agustina Ester Debora Naomi Rahel "
                "Welmina Yohana Ance Marince Dorkas"
            ),
            family=_w(
                "Wenda Kogoya Tabuni Rumbiak Mandowen Yoku Wanimbo Wonda Murib Rumbewas Ayomi "
                "Kambu Kaisiepo Mayor Korwa Rumaropen Waromi Sawaki Ohee Hamadi Itlay Gobai "
                "Pigai Tebai Kotouki Mote Asso Wetipo Kossay Enembe"
            ),
            p_family=0.95,
            p_second=0.15,
            honorific_male=_w("Bapa Pak Kaka Om"),
            honorific_female=_w("Mama Mama Bu Kaka"),
            faith="christian",
            hamlet_word="Kampung",
            hamlets=_w("Harapan Sentani Waena Yoka Hamadi Dok_Lima Kotaraja Abepantai Skouw"),
        ),
        NameGroup(
            "tionghoa",
            male=_w(
                "Hendra Budi Andi Johan Kevin Steven Sutanto Hartono Rudy Ferry William Edy "
                "Suryadi Sugianto Handoko Tjahjadi Yohanes Aliong Akiong Gunawan"
            ),
            female=_w(
                "Susanti Lina Linda Meiliana Yenny Lily Merry Dewi Fenny Sherly Siska Vivian "
                "Juliana Lanny Mei_Ling Sri Hartati Liana"
            ),
            family=_w(
                "Wijaya Halim Tanoto Gunawan Santoso Salim Kusuma Hartono Susanto Setiawan "
                "Tanjaya Lim Tan Liem Wibisono Chandra Sutanto Tjandra Widjaja Lukito Gozali "
                "Kurniawan Wongso"
            ),
            p_family=0.85,
            p_second=0.1,
            honorific_male=_w("Koh Pak Pak Ko"),
            honorific_female=_w("Cik Bu Bu Ci"),
            faith="neutral",
            hamlets=_w("Pecinan Pasar_Baru Glodok Kampung_Cina Sungai_Raya"),
        ),
    )
}

# Naming groups per province, as (group, weight). Weights are rough, for flavour only.
PROVINCE_GROUPS: dict[str, tuple[tuple[str, float], ...]] = {
    "11": (("aceh", 0.85), ("melayu", 0.08), ("jawa", 0.05), ("batak", 0.02)),
    "12": (("batak", 0.5), ("melayu", 0.2), ("jawa", 0.2), ("tionghoa", 0.07), ("minang", 0.03)),
    "13": (("minang", 0.92), ("batak", 0.03), ("jawa", 0.05)),
    "14": (("melayu", 0.5), ("minang", 0.2), ("jawa", 0.2), ("batak", 0.1)),
    "15": (("melayu", 0.6), ("jawa", 0.3), ("minang", 0.1)),
    "16": (("melayu", 0.7), ("jawa", 0.28), ("tionghoa", 0.02)),
    "17": (("melayu", 0.7), ("jawa", 0.25), ("minang", 0.05)),
    "18": (("jawa", 0.6), ("melayu", 0.3), ("sunda", 0.1)),
    "19": (("melayu", 0.7), ("tionghoa", 0.28), ("jawa", 0.02)),
    "21": (("melayu", 0.45), ("jawa", 0.2), ("tionghoa", 0.15), ("batak", 0.12), ("minang", 0.08)),
    "31": (
        ("betawi", 0.3),
        ("jawa", 0.35),
        ("sunda", 0.14),
        ("tionghoa", 0.08),
        ("batak", 0.05),
        ("minang", 0.05),
        ("bugis", 0.03),
    ),
    "32": (("sunda", 0.82), ("jawa", 0.13), ("betawi", 0.03), ("tionghoa", 0.02)),
    "33": (("jawa", 0.98), ("tionghoa", 0.02)),
    "34": (("jawa", 0.98), ("tionghoa", 0.02)),
    "35": (("jawa", 0.8), ("madura", 0.18), ("tionghoa", 0.02)),
    "36": (("sunda", 0.6), ("jawa", 0.2), ("betawi", 0.15), ("tionghoa", 0.05)),
    "51": (("bali", 0.9), ("jawa", 0.08), ("sasak", 0.02)),
    "52": (("sasak", 0.9), ("bali", 0.05), ("jawa", 0.05)),
    "53": (("ntt", 0.95), ("bugis", 0.03), ("jawa", 0.02)),
    "61": (("melayu", 0.35), ("dayak", 0.35), ("tionghoa", 0.2), ("jawa", 0.1)),
    "62": (("dayak", 0.45), ("banjar", 0.3), ("jawa", 0.25)),
    "63": (("banjar", 0.85), ("jawa", 0.15)),
    "64": (("jawa", 0.35), ("banjar", 0.25), ("bugis", 0.25), ("dayak", 0.15)),
    "65": (("dayak", 0.35), ("bugis", 0.3), ("jawa", 0.2), ("banjar", 0.15)),
    "71": (("manado", 0.85), ("bugis", 0.15)),
    "72": (("bugis", 0.6), ("manado", 0.2), ("jawa", 0.2)),
    "73": (("bugis", 0.97), ("tionghoa", 0.03)),
    "74": (("bugis", 0.8), ("jawa", 0.2)),
    "75": (("bugis", 0.9), ("manado", 0.1)),
    "76": (("bugis", 0.95), ("jawa", 0.05)),
    "81": (("maluku", 0.9), ("bugis", 0.1)),
    "82": (("maluku", 0.8), ("bugis", 0.2)),
    "91": (("papua", 0.6), ("jawa", 0.2), ("bugis", 0.15), ("maluku", 0.05)),
    "92": (("papua", 0.6), ("jawa", 0.2), ("bugis", 0.15), ("maluku", 0.05)),
    "93": (("papua", 0.65), ("jawa", 0.2), ("bugis", 0.1), ("maluku", 0.05)),
    "94": (("papua", 0.75), ("bugis", 0.15), ("jawa", 0.1)),
    "95": (("papua", 0.9), ("bugis", 0.05), ("jawa", 0.05)),
    "96": (("papua", 0.55), ("jawa", 0.2), ("bugis", 0.15), ("maluku", 0.1)),
}
# Kabupaten/kota whose mix differs from their province's.
KABKOTA_GROUPS: dict[str, tuple[tuple[str, float], ...]] = {
    **dict.fromkeys(("35.26", "35.27", "35.28", "35.29"), (("madura", 0.95), ("jawa", 0.05))),
    **dict.fromkeys(("32.09", "32.12", "32.74"), (("jawa", 0.7), ("sunda", 0.3))),
    **dict.fromkeys(("61.72",), (("tionghoa", 0.5), ("melayu", 0.3), ("dayak", 0.2))),
}
DEFAULT_GROUPS: tuple[tuple[str, float], ...] = (("jawa", 0.7), ("melayu", 0.3))

BALI_BIRTH_ORDER = _w("Wayan Made Nyoman Ketut Putu Kadek Komang Gede")

# --- business name parts -------------------------------------------------------------------

BLESSINGS_COMMON = _w(
    "Sumber_Rejeki Sumber_Rezeki Sumber_Makmur Maju_Jaya Maju_Jaya_Abadi Maju_Bersama "
    "Sido_Mulyo Sido_Makmur Sri_Rejeki Sinar_Abadi Sinar_Jaya Karya_Mandiri Karya_Bersama "
    "Mitra_Usaha Lancar_Jaya Lancar_Rejeki Jaya_Abadi Jaya_Makmur Mekar_Sari Mekar_Jaya "
    "Tunas_Harapan Harapan_Baru Harapan_Jaya Cahaya_Baru Cahaya_Abadi Anugerah Anugerah_Jaya "
    "Sejahtera Sentosa Makmur_Sentosa Sehati Sekar_Arum Putra_Mandiri Putri_Ayu Dua_Putri "
    "Tiga_Saudara Bintang_Timur Surya_Kencana Gemilang Mulia Nusantara Pelangi Melati "
    "Kenanga Cempaka Sari_Rasa Rasa_Sayang Citra_Rasa Selera_Nusantara Murah_Meriah "
    "Insan_Mandiri Bersaudara Abadi Mandiri Lestari Subur_Makmur Jaya Karya_Utama "
    "Sinar_Harapan Usaha_Bersama Mitra_Jaya Tiga_Putra Dua_Saudara Kencana Sumber_Jaya "
    "Berkah_Jaya Mega_Jaya Bumi_Asri Indah_Jaya Mutiara Permata Sentosa_Abadi"
)
BLESSINGS_BY_FAITH: dict[str, tuple[str, ...]] = {
    "muslim": _w(
        "Barokah Berkah Al-Barokah Amanah Rizki_Barokah Berkah_Ilahi Hidayah Sakinah "
        "Ridho_Ilahi Bismillah Alhamdulillah Mubarok Berkah_Abadi Amanah_Sejahtera Al-Ikhlas"
    ),
    "christian": _w("Berkat Kasih Damai Sejahtera Shalom Immanuel Anugerah_Kasih Kasih_Karunia"),
    "hindu": _w("Dewata Santhi Sari_Dewi Laksmi Giri_Asih Amerta Yasa Sedana Bhuana"),
    "neutral": _w("Sinar_Mulia Jaya_Makmur Harmoni Sukses Makmur_Jaya Hoki"),
}

LEGAL_FORMS: dict[str, tuple[tuple[str, float], ...]] = {
    "mikro": (("UD", 0.6), ("CV", 0.3), ("PT", 0.1)),
    "kecil": (("CV", 0.5), ("UD", 0.25), ("PT", 0.25)),
    "menengah": (("PT", 0.6), ("CV", 0.4)),
}

# --- addresses -----------------------------------------------------------------------------

STREETS = _w(
    "Sudirman Jend._Sudirman Diponegoro Ahmad_Yani Gatot_Subroto Pahlawan Merdeka Imam_Bonjol "
    "Hasanuddin Pattimura Teuku_Umar Cut_Nyak_Dien Kartini R.A._Kartini Dewi_Sartika Veteran "
    "Pemuda Gajah_Mada Hayam_Wuruk Thamrin Juanda Sisingamangaraja Sultan_Agung Panglima_Polim "
    "Raden_Saleh Ki_Hajar_Dewantara Dr._Sutomo Dr._Wahidin Cokroaminoto Antasari "
    "Pangeran_Diponegoro "
    "Slamet_Riyadi Urip_Sumoharjo Yos_Sudarso Wolter_Monginsidi Sam_Ratulangi Supratman "
    "Pramuka Kesehatan Pendidikan Sekolah Pasar Stasiun Pelabuhan Masjid Kenari Melati Mawar "
    "Kenanga Anggrek Flamboyan Cempaka Dahlia Seroja Teratai Mangga Rambutan Durian Nangka "
    "Jambu Kelapa Sawo Manggis Cendana Beringin Asem Waru Jati Mahoni Cemara Bambu_Kuning "
    "Perintis_Kemerdekaan Proklamasi Kemuning Anyelir Nusa_Indah Garuda Merpati Rajawali "
    "Cendrawasih Kakatua Nuri Kutilang Elang Pelita Bhayangkara Siliwangi Mataram Majapahit"
)
GANGS = _w(
    "Masjid Mushola Damai Buntu Swadaya Mawar Melati Kenari Sawo Mangga Haji_Abdullah "
    "H._Naim Langgar Karya Rukun Sejahtera Kelinci Kancil Sentosa Family Bersama Amal Ikhlas"
)
HOUSING = _w(
    "Griya_Asri Griya_Indah Bumi_Asri Taman_Sari Graha_Permai Puri_Indah Villa_Mutiara "
    "Perumnas Pondok_Indah Citra_Garden Taman_Kencana Griya_Permata Bukit_Indah Grand_Permata"
)
