/** Word lists for the miniature crawl's grammar. Written for ccmix; nothing copied from real pages. */

const words = (text: string): readonly string[] => text.trim().split(/\s+/);

export const NOUNS = words(`
  account approach area argument article balance basis benefit border budget campaign capacity
  century chapter choice circle claim climate community company condition conference context
  contract council culture debate decade decision detail device difference direction distance
  document economy edition effect effort element energy environment episode evidence example
  experience factor family feature figure framework function future generation government group
  growth history household idea image impact income industry influence instance interest journey
  knowledge landscape language layer level library material measure memory method minute model
  moment movement network notion number object observation opinion option origin outcome pattern
  period perspective phase picture plan platform policy position practice pressure principle
  problem process product program project property proposal quality question range reason record
  region relation report research resource response result review rhythm risk role routine rule
  sample scale scene schedule season sector sequence series service session signal situation skill
  society solution source space stage standard statement strategy structure student study style
  subject surface system task teacher technique tension theory threshold tradition transition trend
  value variety version village vision voice volume window winter witness workshop world
`);

export const VERBS_PRESENT = words(`
  affects allows appears argues begins brings builds captures changes combines compares connects
  considers contains creates defines delivers depends describes determines develops differs
  discovers encourages enables establishes examines explains explores extends follows generates
  highlights identifies illustrates improves includes increases indicates influences introduces
  involves maintains measures mentions offers organizes outlines presents preserves produces
  provides raises reduces reflects remains reminds represents requires reveals shapes shows
  suggests supports sustains transforms underlines
`);

export const VERBS_PAST = words(`
  adopted announced arrived assembled built carried caught chose collected completed designed
  developed discovered documented drew earned established expanded explained faced found gathered
  grew helped imagined inherited introduced joined kept launched learned left managed measured met
  moved noticed opened organized planned prepared produced published raised reached recorded
  repaired replaced returned revised settled shared started studied survived taught tested traveled
  visited won wrote
`);

export const ADJECTIVES = words(`
  ancient annual careful central classic common complex considerable constant critical curious
  delicate detailed different distant early effective elaborate entire essential familiar famous
  fragile frequent general gentle gradual important independent initial large lasting local
  long-term main major minor modern narrow natural necessary notable obvious occasional ordinary
  original particular patient popular practical precise primary private rapid rare recent regional
  reliable remarkable rural seasonal separate serious significant simple slow small social solid
  special stable steady strong subtle sudden surprising traditional typical unusual urban useful
  valuable various visible vivid warm wide
`);

export const ADVERBS = words(`
  actually almost already carefully certainly clearly closely commonly considerably directly easily
  entirely especially eventually exactly finally frequently generally gradually largely mostly
  naturally nearly often partly perhaps possibly quickly rarely really recently roughly simply
  slowly sometimes steadily strongly surprisingly typically usually widely
`);

export const CONNECTIVES = words(`
  however moreover meanwhile nevertheless therefore consequently instead still likewise indeed
  afterwards later similarly otherwise furthermore
`);

export const TOPICS: Readonly<Record<string, readonly string[]>> = {
  astronomy: words(`telescope galaxy orbit comet nebula planet moon eclipse observatory spectrum
    asteroid satellite constellation supernova crater horizon gravity radiation meteor cluster`),
  cooking: words(`recipe oven flour butter sauce kitchen spice onion garlic dough broth skillet
    pastry herb vinegar harvest flavor seasoning marinade dumpling`),
  gardening: words(`soil seedling compost orchard greenhouse pruning mulch tomato hedge bulb
    fertilizer root blossom trellis irrigation vine shrub meadow pollinator perennial`),
  history: words(`empire dynasty treaty archive monarch revolution colony parliament manuscript
    chronicle fortress rebellion merchant pilgrim harbor siege charter frontier guild republic`),
  music: words(`melody orchestra violin chord rehearsal symphony tempo choir concert composer
    harmony piano album lyric rhythm drummer soloist conductor ballad overture`),
  technology: words(`software database server compiler algorithm interface processor protocol
    encryption browser kernel network sensor battery firmware cache bandwidth terminal debugger
    repository`),
  sport: words(`tournament stadium athlete coach referee league championship marathon goalkeeper
    racket season trophy sprint dribble penalty innings bicycle swimmer scoreboard training`),
  economics: words(`inflation market wage tariff investment currency export deficit interest
    savings pension supply demand labor productivity mortgage dividend subsidy consumer ledger`),
  medicine: words(`patient clinic vaccine symptom diagnosis therapy surgeon nurse infection
    dosage hospital immunity protein tissue recovery allergy enzyme diet muscle vitamin`),
  architecture: words(`facade column vault arch staircase courtyard timber brick cathedral
    balcony blueprint foundation roof corridor window tower pavilion mosaic plaster beam`),
  geology: words(`glacier basalt sediment volcano fossil canyon mineral earthquake granite
    erosion plateau quartz magma limestone delta aquifer fault dune cliff estuary`),
  travel: words(`itinerary ferry passport hostel luggage railway border village coastline
    guidebook museum market cathedral backpack voyage airport souvenir trail island tram`),
};

export const TOPIC_NAMES = Object.keys(TOPICS);

/** Syllables for invented names of people, places and organisations. */
export const NAME_SYLLABLES = words(`
  al an ar bel bor ca cor da del dor el en fa fer gal gor ha hel in is ka kel la lor ma mer na nor
  o or pa pel qu ra ren sa sel ta tor u ul va vel wen ya zor bri cla dru fle gri plo stra tri
`);

export const ORG_SUFFIXES = words(`Institute Society Group Press Foundation Museum Council Trust
  Company Association Collective Partners Review University Observatory Archive`);

/** Web chrome shared by low- and high-quality pages. */
export const BOILERPLATE = [
  'We use cookies to improve your experience on our site. By continuing you agree to our use of cookies.',
  'Accept all cookies',
  'Manage preferences',
  'Privacy Policy | Terms of Use | Cookie Settings',
  'Subscribe to our newsletter and never miss an update.',
  'Enter your email address',
  'Share this article',
  'Share on Facebook Share on Twitter Share by Email',
  'Related posts',
  'Leave a comment',
  'Your email address will not be published. Required fields are marked *',
  'Log in | Register',
  'Skip to main content',
  'Back to top',
  'Read more',
  'Sign up for free',
  'This site uses Akismet to reduce spam.',
  'Powered by WordPress',
  'Contact us',
  'Follow us on social media',
  'Advertisement',
  'Please enable JavaScript to view this page.',
];

export const NAV_WORDS = words(`Home About Contact Blog News Archive Shop Cart Checkout Login
  Register Search Categories Tags Events Gallery Downloads Support FAQ Careers Press Sitemap
  Help Account Wishlist Offers Deals Forum Members Calendar Resources Services Products`);

export const SPAM_WORDS = words(`cheap best buy online discount free shipping deal sale top
  price offer lowest guaranteed fast now order official authentic wholesale review coupon promo
  cheapest bargain clearance instant`);

export const GERMAN = {
  nouns: words(`Haus Stadt Zeit Jahr Arbeit Schule Familie Garten Wasser Reise Geschichte Frage
    Leben Welt Kind Weg Buch Sprache Musik Wetter Markt Kirche Fluss Berg Zug Brot Kaffee Woche
    Abend Morgen Nachricht Gemeinde Verein Unternehmen Forschung Kunst Wirtschaft Gesellschaft
    Bahnhof Brücke Dorf Feld Fenster Freund Geld Hand Himmel Hund Insel Kopf Land Licht Luft Meer
    Mensch Nacht Ort Platz Preis Raum Sonne Spiel Stimme Straße Stunde Tag Teil Tier Tisch Tür
    Wald Wand Wort Zimmer Ziel Zukunft Antwort Bild Brief Ende Ergebnis Erfahrung Gefühl Gruppe`),
  verbs: words(`zeigt bringt findet macht erklärt beschreibt bietet braucht gibt nimmt bleibt
    entwickelt verbindet betrifft beginnt erreicht verändert unterstützt enthält zeigte brachte
    fand machte erklärte bot brauchte gab nahm blieb begann erreichte veränderte kennt liegt steht
    wohnt arbeitet spielt lernt öffnet schreibt liest sagt fragt`),
  adjectives: words(`neue alte große kleine schöne wichtige lange kurze deutsche lokale
    bekannte einfache besondere moderne ruhige starke freie`),
  function: words(`der die das und ist nicht mit auf für von den im ein eine auch sich es
    noch nach bei aus wie über sehr wird sind war`),
};

export const SPANISH = {
  nouns: words(`casa ciudad tiempo año trabajo escuela familia jardín agua viaje historia
    pregunta vida mundo niño camino libro lengua música clima mercado iglesia río montaña tren pan
    café semana tarde mañana noticia comunidad empresa investigación arte economía sociedad
    estación puente pueblo campo ventana amigo dinero mano cielo perro isla cabeza tierra luz aire
    mar persona noche lugar plaza precio espacio sol juego voz calle hora día parte animal mesa
    puerta bosque pared palabra habitación objetivo futuro respuesta imagen carta final resultado
    experiencia sentimiento grupo fiesta cocina ciencia gobierno salud playa barrio`),
  verbs: words(`muestra trae encuentra hace explica describe ofrece necesita da toma queda
    desarrolla conecta afecta comienza alcanza cambia apoya contiene mostró trajo encontró hizo
    explicó ofreció necesitó dio tomó quedó comenzó cambió conoce vive trabaja juega aprende abre
    escribe lee dice pregunta`),
  adjectives: words(`nueva antigua grande pequeña hermosa importante larga corta local
    conocida sencilla especial moderna tranquila fuerte libre`),
  function: words(`el la los las y es no con en para de del un una también se muy que por
    como sobre más pero su sus está son era`),
};
