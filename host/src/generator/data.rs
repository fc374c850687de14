//! Static tables for the generator: names by culture, nationalities, and the
//! land crossings of the Canada–US border with their port codes.
//!
//! Names are written as a clerk would read them off the data page of a
//! passport: natural case with their diacritics (`Müller`, `Nguyễn`). The
//! generator derives the upper-case CSV form and the MRZ form from them.
//!
//! Port codes: the US codes are CBP's 4-digit port codes. The Canadian codes
//! are 4-digit CBSA-style office numbers, illustrative only: each names the
//! crossing it stands for, but is not guaranteed to be CBSA's current number.

/// How a culture forms the further given names.
#[derive(Clone, Copy)]
pub(super) enum MiddleStyle {
    /// Another given name from the same lists (`Anna Maria`, `Hans Peter`).
    Given,
    /// From dedicated lists (male, female), e.g. Indian `Kumar` / `Kaur`.
    Lists(&'static [&'static str], &'static [&'static str]),
    /// The mother's maiden surname, as in the Philippines (`Maria Reyes Santos`).
    Surname,
    /// Vietnamese: the passport's given names are the middle name followed by
    /// the personal name (`Văn Minh`, `Thị Lan`): the first given name is the
    /// middle element (male, female lists) and the "middle" the personal name.
    Vietnamese(&'static [&'static str], &'static [&'static str]),
}

pub(super) struct Culture {
    pub family: &'static [&'static str],
    pub male: &'static [&'static str],
    pub female: &'static [&'static str],
    /// Probability of at least one further given name.
    pub middle_p: f64,
    pub middle: MiddleStyle,
    /// Probability of a two-part family name (`García López`).
    pub compound_p: f64,
}

#[rustfmt::skip]
pub(super) static ANGLO_CA: Culture = Culture {
    family: &[
        "Smith", "Brown", "Tremblay", "Martin", "Roy", "Wilson", "MacDonald", "Gagnon", "Johnson",
        "Taylor", "Côté", "Campbell", "Anderson", "Leblanc", "Lee", "Bouchard", "Gauthier",
        "Morin", "Thompson", "White", "Bélanger", "Pelletier", "Lévesque", "Bergeron", "O'Connor",
        "Fraser", "Wong", "Chen", "Singh", "Lavoie", "Fortin", "Gélinas", "Ouellet", "Stewart",
        "Robertson", "McLeod", "Beaulieu", "Thibodeau", "Poirier", "Desjardins", "St-Pierre",
        "Caron", "Girard", "Boucher", "MacKenzie", "Murray", "Reid", "Scott", "Clarke", "Young",
        "Kowalczyk", "Nadeau", "Séguin", "Lapointe",
    ],
    male: &[
        "Liam", "Noah", "William", "Jacob", "Olivier", "Félix", "Benjamin", "Logan", "Nathan",
        "James", "Ethan", "Alexandre", "Mathieu", "Étienne", "Samuel", "Thomas", "Gabriel",
        "Lucas", "Jean-François", "Marc-André", "Connor", "Ryan", "Michael", "David", "Daniel",
        "Matthew", "Kevin", "Jason", "Pierre", "Luc", "Antoine", "Éric", "Sébastien", "Owen",
        "Brandon", "Tyler", "Jérémie",
    ],
    female: &[
        "Emma", "Olivia", "Charlotte", "Léa", "Chloé", "Ava", "Sophie", "Amélie", "Florence",
        "Émilie", "Isabelle", "Marie-Ève", "Geneviève", "Sarah", "Jessica", "Jennifer", "Ashley",
        "Megan", "Emily", "Hannah", "Madison", "Camille", "Zoé", "Julie", "Nathalie", "Mélanie",
        "Andrée", "Karine", "Stéphanie", "Brittany", "Kayla",
    ],
    middle_p: 0.42,
    middle: MiddleStyle::Lists(
        &[
            "James", "John", "Michael", "Joseph", "Alexander", "Edward", "Thomas", "Lee", "Paul",
            "Marie", "Jean", "René", "Joseph-Marie", "Andrew", "Robert", "Scott",
        ],
        &[
            "Marie", "Anne", "Elizabeth", "Louise", "Rose", "Grace", "Lynn", "Jane", "Catherine",
            "Hélène", "Marguerite", "Claire", "Joanne", "Danielle",
        ],
    ),
    compound_p: 0.02,
};

#[rustfmt::skip]
pub(super) static ANGLO_US: Culture = Culture {
    family: &[
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
        "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
        "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
        "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
        "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
        "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Kowalski", "O'Brien", "McCarthy",
        "Schneider", "Yamamoto", "Washington", "Jefferson", "Olson", "Larson", "Novak", "DeLuca",
        "Van Buren", "Saint John",
    ],
    male: &[
        "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
        "Christopher", "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
        "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "Timothy", "Ronald", "Jason", "Tyler",
        "Brandon", "Justin", "Aiden", "Elijah", "Jayden", "Dwayne", "Cody", "Austin",
    ],
    female: &[
        "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
        "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Sandra", "Margaret", "Ashley", "Kimberly",
        "Emily", "Donna", "Michelle", "Amanda", "Melissa", "Stephanie", "Rebecca", "Laura",
        "Madison", "Abigail", "Harper", "Evelyn", "Brianna", "Destiny", "Renée", "Zoë",
    ],
    middle_p: 0.55,
    middle: MiddleStyle::Lists(
        &[
            "James", "Lee", "Michael", "Allen", "Edward", "Ray", "Joseph", "Paul", "Alexander",
            "Scott", "Thomas", "John", "Wayne", "Dean", "Lynn",
        ],
        &[
            "Ann", "Marie", "Lynn", "Elizabeth", "Rose", "Grace", "Jane", "Louise", "Nicole",
            "Michelle", "Renee", "Jo", "Kay", "Mae",
        ],
    ),
    compound_p: 0.01,
};

#[rustfmt::skip]
pub(super) static ANGLO_GB: Culture = Culture {
    family: &[
        "Smith", "Jones", "Williams", "Taylor", "Davies", "Evans", "Thomas", "Roberts", "Walker",
        "Wright", "Thompson", "Robinson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood",
        "Harris", "Lewis", "Martin", "Jackson", "Clarke", "Turner", "Hill", "Scott", "Cooper",
        "Morris", "Ward", "Moore", "King", "Watson", "Baker", "Harrison", "Morgan", "Patel",
        "Young", "Allen", "Mitchell", "O'Neill", "MacLeod", "Fitzgerald", "Ahmed", "Khan", "Kelly",
        "Murphy", "Ryan", "Nguyen", "Papadopoulos", "Smith-Jones", "Bowes-Lyon", "Ó Súilleabháin",
        "McAllister", "Llewellyn", "ap Rhys",
    ],
    male: &[
        "Oliver", "George", "Harry", "Jack", "Jacob", "Charlie", "Thomas", "Oscar", "William",
        "James", "Joshua", "Alfie", "Henry", "Leo", "Archie", "Ethan", "Joseph", "Freddie",
        "Samuel", "Alexander", "Callum", "Liam", "Rhys", "Owen", "Dylan", "Hamish", "Angus",
        "Seán", "Ciarán", "Nigel", "Graham", "Mohammed",
    ],
    female: &[
        "Olivia", "Amelia", "Isla", "Ava", "Emily", "Isabella", "Mia", "Poppy", "Ella", "Lily",
        "Sophie", "Grace", "Charlotte", "Jessica", "Chloe", "Ruby", "Evie", "Freya", "Siobhán",
        "Niamh", "Aoife", "Eilidh", "Zoë", "Holly", "Sienna", "Gemma", "Bronwyn", "Fatima",
    ],
    middle_p: 0.38,
    middle: MiddleStyle::Given,
    compound_p: 0.02,
};

#[rustfmt::skip]
pub(super) static GERMAN: Culture = Culture {
    family: &[
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
        "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
        "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Köhler", "Herrmann",
        "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Scholz", "Möller",
        "Weiß", "Jung", "Hahn", "Vogel", "Groß", "Keßler", "Jäger", "Böhm", "Dürr", "Özdemir",
        "Yılmaz", "von Bülow", "Schütz", "Günther",
    ],
    male: &[
        "Hans", "Peter", "Klaus", "Jürgen", "Wolfgang", "Michael", "Thomas", "Andreas", "Stefan",
        "Frank", "Markus", "Christian", "Uwe", "Jörg", "Matthias", "Sebastian", "Lukas", "Felix",
        "Jonas", "Maximilian", "Paul", "Leon", "Finn", "Niklas", "Tobias", "Björn", "Günter",
        "Dieter", "Rüdiger", "Karl-Heinz", "Mehmet",
    ],
    female: &[
        "Anna", "Maria", "Ursula", "Monika", "Petra", "Sabine", "Renate", "Helga", "Karin",
        "Brigitte", "Ingrid", "Julia", "Katharina", "Laura", "Lena", "Lea", "Hannah", "Sophie",
        "Jana", "Franziska", "Käthe", "Anne-Marie", "Claudia", "Susanne", "Birgit", "Dörte",
        "Jülide", "Bärbel",
    ],
    middle_p: 0.35,
    middle: MiddleStyle::Given,
    compound_p: 0.03,
};

#[rustfmt::skip]
pub(super) static FRENCH: Culture = Culture {
    family: &[
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent", "Lefèbvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
        "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont",
        "Lambert", "Bonnet", "François", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc",
        "Guérin", "Henry", "Roussel", "Perrin", "Clément", "Gauthier", "Dumont", "Fontaine",
        "Chevalier", "Masson", "Gérard", "Nguyen", "Noël", "Lemaître", "Benoît", "Saint-Exupéry",
        "de la Fontaine", "Le Goff", "Bouvier-Rémy",
    ],
    male: &[
        "Jean", "Pierre", "Michel", "André", "Philippe", "René", "Louis", "Alain", "Jacques",
        "Bernard", "Marcel", "Daniel", "Claude", "Christian", "Henri", "Georges", "Nicolas",
        "François", "Patrick", "Gérard", "Christophe", "Julien", "Hugo", "Théo", "Léo", "Raphaël",
        "Jean-Pierre", "Jean-Luc", "Loïc", "Cédric", "Jérôme", "Grégoire", "Benoît", "Aurélien",
        "Noël",
    ],
    female: &[
        "Marie", "Jeanne", "Françoise", "Monique", "Catherine", "Nathalie", "Isabelle",
        "Jacqueline", "Anne", "Sylvie", "Martine", "Madeleine", "Nicole", "Suzanne", "Hélène",
        "Christine", "Marguerite", "Denise", "Louise", "Chloé", "Léa", "Manon", "Camille", "Inès",
        "Zoé", "Océane", "Anaïs", "Mélanie", "Émilie", "Céline", "Gaëlle", "Agnès", "Maëlle",
        "Marie-Claire", "Noémie",
    ],
    middle_p: 0.35,
    middle: MiddleStyle::Given,
    compound_p: 0.03,
};

#[rustfmt::skip]
pub(super) static SPANISH: Culture = Culture {
    family: &[
        "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
        "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
        "Romero", "Alonso", "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos",
        "Gil", "Ramírez", "Serrano", "Blanco", "Molina", "Morales", "Suárez", "Ortega", "Delgado",
        "Castro", "Ortiz", "Rubio", "Marín", "Sanz", "Núñez", "Iglesias", "Medina", "Garrido",
        "Cortés", "Castillo", "Santos", "Lozano", "Guerrero", "Cano", "Prieto", "Méndez", "Cruz",
        "Calvo", "Gallego", "Vidal", "León", "Márquez", "Herrera", "Peña", "Ibáñez", "Ferrer",
        "Durán", "Benítez", "Echeverría", "Goikoetxea", "Puig", "Llorente",
    ],
    male: &[
        "Antonio", "José", "Manuel", "Francisco", "David", "Juan", "Javier", "Daniel", "Carlos",
        "Jesús", "Alejandro", "Miguel", "Rafael", "Pedro", "Pablo", "Ángel", "Sergio", "Fernando",
        "Jorge", "Luis", "Alberto", "Álvaro", "Adrián", "Iñaki", "Íñigo", "Jordi", "Joan", "Raúl",
        "Rubén", "Óscar",
    ],
    female: &[
        "María", "Carmen", "Ana", "Isabel", "Laura", "Cristina", "Marta", "Lucía", "Dolores",
        "Pilar", "Paula", "Elena", "Sara", "Mercedes", "Raquel", "Rosa", "Beatriz", "Núria",
        "Begoña", "Inés", "Sofía", "Ainhoa", "Montserrat", "Concepción", "Ángela", "Itziar",
        "Noelia", "Remedios",
    ],
    middle_p: 0.35,
    middle: MiddleStyle::Given,
    compound_p: 0.85,
};

#[rustfmt::skip]
pub(super) static LATAM: Culture = Culture {
    family: &[
        "Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
        "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres",
        "Díaz", "Gutiérrez", "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Moreno", "Castillo", "Romero",
        "Álvarez", "Méndez", "Chávez", "Rivera", "Juárez", "Ramos", "Domínguez", "Herrera",
        "Medina", "Castro", "Vargas", "Guzmán", "Velázquez", "Muñoz", "Rojas", "Contreras",
        "Salazar", "Luna", "Ortega", "Santiago", "Guerrero", "Estrada", "Bautista", "Cortés",
        "Soto", "Alvarado", "Espinoza", "Lara", "Ávila", "Ríos", "Cervantes", "Silva", "Delgado",
        "Vega", "Márquez", "Sandoval", "Carrillo", "León", "Mejía", "Solís", "Núñez", "Rosas",
        "Valdez", "Ibarra", "Campos", "Navarro", "Peña", "Cárdenas", "Quintero", "Ospina",
        "Restrepo", "Zuluaga", "Giraldo", "Londoño", "De la Cruz", "Del Ángel",
    ],
    male: &[
        "José", "Juan", "Luis", "Carlos", "Jorge", "Miguel", "Jesús", "Alejandro", "Francisco",
        "Antonio", "Roberto", "Ricardo", "Fernando", "Eduardo", "Manuel", "Javier", "Raúl",
        "Arturo", "Sergio", "Daniel", "Héctor", "Martín", "Óscar", "Andrés", "Santiago",
        "Sebastián", "Mateo", "Diego", "Emiliano", "Ángel", "Julián", "Iván", "Joaquín", "Efraín",
        "Cuauhtémoc",
    ],
    female: &[
        "María", "Guadalupe", "Juana", "Margarita", "Verónica", "Leticia", "Rosa", "Francisca",
        "Alejandra", "Patricia", "Gabriela", "Adriana", "Elizabeth", "Claudia", "Andrea",
        "Mariana", "Ximena", "Valentina", "Camila", "Sofía", "Daniela", "Fernanda", "Itzel",
        "Lucía", "Paola", "Mónica", "Araceli", "Rocío", "Beatriz", "Yesenia", "Maricruz",
        "Xóchitl",
    ],
    middle_p: 0.35,
    middle: MiddleStyle::Given,
    compound_p: 0.8,
};

#[rustfmt::skip]
pub(super) static BRAZILIAN: Culture = Culture {
    family: &[
        "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
        "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares",
        "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira",
        "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos", "Gonçalves",
        "Santana", "Teixeira", "Araújo", "Magalhães", "Conceição", "Brandão", "Assunção",
        "da Silva", "dos Santos", "de Souza",
    ],
    male: &[
        "João", "José", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz",
        "Marcos", "Luís", "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe",
        "Raimundo", "Rodrigo", "Guilherme", "Gustavo", "Thiago", "Matheus", "Vinícius", "Caio",
        "Otávio", "Sebastião",
    ],
    female: &[
        "Maria", "Ana", "Francisca", "Antônia", "Adriana", "Juliana", "Márcia", "Fernanda",
        "Patrícia", "Aline", "Sandra", "Camila", "Amanda", "Bruna", "Jéssica", "Letícia", "Júlia",
        "Luciana", "Vanessa", "Mariana", "Gabriela", "Beatriz", "Larissa", "Lúcia", "Débora",
        "Thaís",
    ],
    middle_p: 0.4,
    middle: MiddleStyle::Given,
    compound_p: 0.55,
};

#[rustfmt::skip]
pub(super) static ITALIAN: Culture = Culture {
    family: &[
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
        "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
        "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso",
        "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile", "Martinelli", "Vitale",
        "Serra", "Coppola", "De Santis", "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte",
        "Ferri", "Fabbri", "Grasso", "Valentini", "Messina", "Sala", "De Angelis", "Gatti",
        "Pellegrini", "Palumbo", "Sanna", "Farina", "Monti", "Cattaneo", "Amato", "D'Amico",
        "Orlando", "Sorrentino",
    ],
    male: &[
        "Giuseppe", "Giovanni", "Antonio", "Mario", "Luigi", "Francesco", "Angelo", "Vincenzo",
        "Pietro", "Salvatore", "Carlo", "Franco", "Domenico", "Bruno", "Paolo", "Michele",
        "Giorgio", "Aldo", "Sergio", "Luciano", "Alessandro", "Lorenzo", "Leonardo", "Mattia",
        "Andrea", "Gabriele", "Riccardo", "Tommaso", "Edoardo", "Niccolò", "Nicolò", "Raffaele",
    ],
    female: &[
        "Maria", "Anna", "Giuseppina", "Rosa", "Angela", "Giovanna", "Teresa", "Lucia", "Carmela",
        "Caterina", "Francesca", "Antonietta", "Carla", "Elena", "Concetta", "Rita", "Margherita",
        "Sofia", "Giulia", "Aurora", "Alice", "Ginevra", "Emma", "Giorgia", "Beatrice", "Chiara",
        "Martina", "Federica", "Alessia",
    ],
    middle_p: 0.3,
    middle: MiddleStyle::Given,
    compound_p: 0.02,
};

#[rustfmt::skip]
pub(super) static DUTCH: Culture = Culture {
    family: &[
        "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
        "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
        "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf",
        "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan", "Vermeulen",
        "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "van der Heijden",
        "Schouten", "van Beek", "Willems", "van Vliet", "Hoekstra", "Maas", "Verhoeven", "Koster",
        "van Dam", "Prins", "Blom", "Huisman", "Kuipers", "Postma", "Gerritsen",
    ],
    male: &[
        "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Jesse", "Bram", "Thijs", "Ruud",
        "Sjoerd", "Pieter", "Jan", "Johannes", "Cornelis", "Hendrik", "Willem", "Gerrit", "Dirk",
        "Joost", "Maarten", "Bart", "Niels", "Stijn", "Teun", "Floris", "Joël",
    ],
    female: &[
        "Emma", "Julia", "Sophie", "Tess", "Zoë", "Anna", "Lotte", "Sanne", "Fleur", "Eva",
        "Femke", "Maaike", "Anouk", "Ilse", "Marieke", "Ineke", "Joke", "Wilhelmina", "Johanna",
        "Cornelia", "Noëlle", "Chloë", "Daphné",
    ],
    middle_p: 0.4,
    middle: MiddleStyle::Given,
    compound_p: 0.02,
};

#[rustfmt::skip]
pub(super) static DANISH: Culture = Culture {
    family: &[
        "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen",
        "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen",
        "Christiansen", "Poulsen", "Johansen", "Møller", "Mortensen", "Knudsen", "Jakobsen",
        "Mikkelsen", "Olesen", "Frederiksen", "Laursen", "Henriksen", "Lund", "Holm", "Kjær",
        "Søndergaard", "Østergaard", "Brøndum", "Dahl", "Bæk", "Aagaard", "Skovgaard",
    ],
    male: &[
        "Søren", "Jens", "Lars", "Niels", "Peter", "Henrik", "Rasmus", "Mads", "Anders", "Morten",
        "Jesper", "Mikkel", "Bjørn", "Torben", "Jørgen", "Kasper", "Frederik", "Emil", "Magnus",
        "Oskar", "Aksel", "Asbjørn", "Bo", "Ib",
    ],
    female: &[
        "Anne", "Kirsten", "Hanne", "Mette", "Anna", "Helle", "Susanne", "Lene", "Maria",
        "Marianne", "Inge", "Karen", "Lone", "Bente", "Camilla", "Pia", "Louise", "Ida", "Freja",
        "Sofie", "Åse", "Bodil", "Astrid", "Signe", "Malene", "Sørine",
    ],
    middle_p: 0.35,
    middle: MiddleStyle::Given,
    compound_p: 0.05,
};

#[rustfmt::skip]
pub(super) static UKRAINIAN: Culture = Culture {
    family: &[
        "Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kovalchuk", "Kravchenko", "Oliinyk",
        "Shevchuk", "Polishchuk", "Bondar", "Tkachuk", "Marchenko", "Moroz", "Lysenko", "Rudenko",
        "Savchenko", "Petrenko", "Klymenko", "Pavlenko", "Savchuk", "Kuzmenko", "Ponomarenko",
        "Vasylenko", "Levchenko", "Kharchenko", "Melnyk", "Boiko", "Karpenko", "Honcharenko",
        "Zinchenko", "Yaremchuk", "Hrytsenko", "Ivanenko", "Sydorenko",
    ],
    male: &[
        "Oleksandr", "Serhii", "Andrii", "Volodymyr", "Mykola", "Vasyl", "Ivan", "Yurii", "Dmytro",
        "Oleh", "Viktor", "Petro", "Mykhailo", "Taras", "Bohdan", "Vitalii", "Ihor", "Maksym",
        "Artem", "Yaroslav", "Denys", "Roman", "Pavlo",
    ],
    female: &[
        "Olena", "Tetiana", "Nataliia", "Iryna", "Svitlana", "Oksana", "Yuliia", "Liudmyla",
        "Halyna", "Mariia", "Kateryna", "Anastasiia", "Viktoriia", "Olha", "Nadiia", "Daryna",
        "Sofiia", "Khrystyna", "Valentyna", "Larysa",
    ],
    middle_p: 0.05,
    middle: MiddleStyle::Given,
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static INDIAN: Culture = Culture {
    family: &[
        "Singh", "Kumar", "Sharma", "Patel", "Shah", "Gupta", "Reddy", "Rao", "Iyer", "Nair",
        "Menon", "Pillai", "Das", "Banerjee", "Chatterjee", "Mukherjee", "Ghosh", "Bose", "Sen",
        "Joshi", "Desai", "Mehta", "Kapoor", "Khanna", "Malhotra", "Chopra", "Agarwal", "Jain",
        "Verma", "Yadav", "Mishra", "Pandey", "Tiwari", "Dubey", "Srivastava", "Saxena", "Bhat",
        "Kulkarni", "Deshpande", "Patil", "Pawar", "Gill", "Sandhu", "Sidhu", "Dhillon", "Grewal",
        "Brar", "Khan", "Ahmed", "Siddiqui", "Qureshi", "Fernandes", "D'Souza", "D'Costa",
        "Thomas", "George", "Varghese", "Krishnan", "Subramanian", "Venkatesan", "Ramachandran",
        "Naidu", "Chaudhary", "Thakur", "Rajput",
    ],
    male: &[
        "Rajesh", "Suresh", "Ramesh", "Mahesh", "Amit", "Sunil", "Anil", "Vijay", "Sanjay",
        "Rahul", "Arjun", "Rohit", "Vikram", "Anand", "Deepak", "Manoj", "Ravi", "Aditya",
        "Harpreet", "Gurpreet", "Manpreet", "Jaspreet", "Mohammed", "Imran", "Abdul", "Arun",
        "Karthik", "Venkat", "Srinivas", "Pradeep", "Nikhil", "Vivek", "Aarav", "Vihaan", "Ishaan",
    ],
    female: &[
        "Priya", "Anjali", "Sunita", "Anita", "Kavita", "Pooja", "Neha", "Deepika", "Divya",
        "Lakshmi", "Meena", "Rekha", "Swati", "Shruti", "Aishwarya", "Harpreet", "Gurpreet",
        "Manpreet", "Jaspreet", "Simran", "Fatima", "Ayesha", "Shreya", "Ananya", "Diya", "Kavya",
        "Saanvi", "Nandini", "Padma", "Radha",
    ],
    middle_p: 0.35,
    middle: MiddleStyle::Lists(
        &[
            "Kumar", "Prasad", "Chandra", "Lal", "Nath", "Mohan", "Singh", "Raj",
        ],
        &["Kumari", "Devi", "Rani", "Kaur", "Bai", "Lata"],
    ),
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static CHINESE: Culture = Culture {
    family: &[
        "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
        "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo", "Zheng", "Liang", "Xie", "Song",
        "Tang", "Han", "Feng", "Deng", "Cao", "Peng", "Zeng", "Xiao", "Tian", "Dong", "Pan",
        "Yuan", "Cai", "Jiang", "Yu", "Du", "Ye", "Cheng", "Wei", "Su", "Lyu", "Ouyang", "Situ",
    ],
    male: &[
        "Wei", "Jun", "Hao", "Yang", "Lei", "Qiang", "Jian", "Ming", "Tao", "Chao", "Yong", "Jie",
        "Peng", "Bo", "Xiaoming", "Zhiwei", "Haoran", "Yichen", "Zihan", "Junjie", "Jianguo",
        "Guangzhi", "Hongwei", "Tianyu", "Yuxuan", "Zixuan", "Jiahao",
    ],
    female: &[
        "Fang", "Na", "Min", "Jing", "Li", "Ying", "Yan", "Xiu", "Lan", "Hui", "Mei", "Xiaohong",
        "Xiaoyan", "Yuxi", "Zihan", "Yutong", "Xinyi", "Shiyu", "Jiayi", "Yiting", "Meiling",
        "Lihua", "Xiuying", "Guiying", "Yumei",
    ],
    middle_p: 0.04,
    middle: MiddleStyle::Lists(
        &["David", "Kevin", "Eric", "Jason", "Michael"],
        &["Grace", "Amy", "Helen", "Jenny", "Vivian"],
    ),
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static FILIPINO: Culture = Culture {
    family: &[
        "Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Tomas",
        "Andrada", "Castillo", "Flores", "Villanueva", "Ramos", "Castro", "Rivera", "Aquino",
        "Navarro", "Salazar", "Mercado", "Dela Cruz", "De Leon", "De Guzman", "Del Rosario",
        "Gonzales", "Lopez", "Soriano", "Aguilar", "Santiago", "Pascual", "Domingo", "Manalo",
        "Macaraeg", "Dizon", "Magbanua", "Lim", "Tan", "Co", "Dimaculangan", "Peñaflor",
    ],
    male: &[
        "Jose", "Juan", "John Paul", "Mark", "Michael", "Christian", "Jerome", "Angelo", "Carlo",
        "Joshua", "Rodrigo", "Ferdinand", "Ronaldo", "Romeo", "Danilo", "Noel", "Arnel", "Rey",
        "Jun", "Bong", "Niño",
    ],
    female: &[
        "Maria", "Cristina", "Rosario", "Lourdes", "Grace", "Mary Joy", "Kristine", "Jocelyn",
        "Marites", "Rowena", "Maricel", "Liza", "Angelica", "Jasmine", "Princess", "Nicole",
        "Andrea", "Divina", "Erlinda", "Luzviminda",
    ],
    middle_p: 0.85,
    middle: MiddleStyle::Surname,
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static VIETNAMESE: Culture = Culture {
    family: &[
        "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
        "Hồ", "Ngô", "Dương", "Lý",
    ],
    male: &[
        "Minh", "Hùng", "Dũng", "Tuấn", "Anh", "Hoàng", "Nam", "Long", "Quang", "Huy", "Đức",
        "Thành", "Phúc", "Khoa", "Bảo", "Trung", "Việt", "Sơn", "Hải", "Thắng",
    ],
    female: &[
        "Linh", "Hương", "Lan", "Mai", "Ngọc", "Thảo", "Trang", "Hà", "Hạnh", "Phương", "Thu",
        "Hằng", "Nhung", "Yến", "Trinh", "Vy", "Tuyết", "Hoa", "Nga", "Loan",
    ],
    middle_p: 0.85,
    middle: MiddleStyle::Vietnamese(
        &["Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Công"],
        &["Thị", "Ngọc", "Thanh", "Thu", "Kim", "Mỹ", "Bích"],
    ),
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static KOREAN: Culture = Culture {
    family: &[
        "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han", "Oh",
        "Seo", "Shin", "Kwon", "Hwang", "Ahn", "Song", "Jeon", "Hong", "Yoo", "Ko", "Moon", "Yang",
        "Son", "Bae", "Baek", "Heo", "Nam",
    ],
    male: &[
        "Min-jun", "Seo-jun", "Do-yun", "Ji-ho", "Jae-won", "Hyun-woo", "Sung-min", "Dong-hyun",
        "Jun-young", "Sang-hoon", "Minjun", "Jihoon", "Taeyang", "Youngsoo", "Jinwoo",
    ],
    female: &[
        "Seo-yeon", "Ji-woo", "Ha-eun", "Min-seo", "Soo-ah", "Ji-yeon", "Eun-ji", "Hye-jin",
        "Yu-na", "Seoyeon", "Jiwoo", "Minji", "Soyoung", "Eunbi", "Hyejin",
    ],
    middle_p: 0.02,
    middle: MiddleStyle::Lists(&["Daniel", "John", "Paul"], &["Grace", "Sarah", "Esther"]),
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static JAPANESE: Culture = Culture {
    family: &[
        "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura",
        "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue",
        "Kimura", "Hayashi", "Shimizu", "Yamazaki", "Mori", "Abe", "Ikeda", "Hashimoto",
        "Yamashita", "Ishikawa", "Nakajima", "Maeda", "Fujita", "Ogawa", "Goto", "Okada",
        "Hasegawa", "Murakami", "Kondo", "Ishii", "Saito", "Sakamoto", "Endo", "Aoki", "Fujii",
        "Nishimura", "Fukuda", "Ota", "Miura", "Ohno",
    ],
    male: &[
        "Hiroshi", "Takashi", "Kenji", "Yuki", "Daisuke", "Kazuki", "Haruto", "Sota", "Yuto",
        "Ren", "Takumi", "Shota", "Kenta", "Ryota", "Takeshi", "Makoto", "Satoshi", "Akira",
        "Tsubasa", "Naoki", "Kaito", "Sho", "Yuma", "Riku", "Hayato", "Shun",
    ],
    female: &[
        "Yuko", "Keiko", "Yoko", "Tomoko", "Akiko", "Yui", "Aoi", "Hina", "Sakura", "Yuna", "Rin",
        "Mio", "Miyu", "Haruka", "Ayaka", "Misaki", "Nanami", "Kaori", "Mai", "Emi", "Naomi",
        "Mika", "Saki", "Ai", "Megumi",
    ],
    middle_p: 0.0,
    middle: MiddleStyle::Given,
    compound_p: 0.0,
};

#[rustfmt::skip]
pub(super) static NIGERIAN: Culture = Culture {
    family: &[
        "Okafor", "Adeyemi", "Okonkwo", "Eze", "Nwosu", "Ibrahim", "Abubakar", "Mohammed", "Bello",
        "Okeke", "Adewale", "Ogunleye", "Balogun", "Oladipo", "Chukwu", "Obi", "Umeh", "Onyeka",
        "Olawale", "Afolabi", "Adebayo", "Usman", "Suleiman", "Yusuf", "Danjuma", "Akinola",
        "Ogunbiyi", "Oyelaran", "Ekwueme", "Nnadi", "Oyèwùmí",
    ],
    male: &[
        "Chukwuemeka", "Oluwaseun", "Ifeanyi", "Adebayo", "Babatunde", "Chinedu", "Emeka",
        "Olumide", "Tunde", "Segun", "Abdullahi", "Musa", "Ibrahim", "Uche", "Obinna", "Kelechi",
        "Chidi", "Femi", "Kayode", "Nnamdi", "Ahmed", "Yakubu", "Samuel", "Daniel", "Emmanuel",
    ],
    female: &[
        "Chiamaka", "Ngozi", "Adaeze", "Oluwakemi", "Funmilayo", "Folake", "Chioma", "Amaka",
        "Nkechi", "Aisha", "Fatima", "Zainab", "Blessing", "Grace", "Favour", "Precious", "Ifeoma",
        "Yetunde", "Titilayo", "Bukola", "Halima", "Hauwa", "Ebere", "Uchechi",
    ],
    middle_p: 0.4,
    middle: MiddleStyle::Given,
    compound_p: 0.0,
};

/// Known alternative romanisations of ASCII names, used for the
/// "transliteration variant" noise on names without diacritics. Compared
/// case-insensitively; either side may be the one on the document.
#[rustfmt::skip]
pub(super) static ALTERNATE_SPELLINGS: &[(&str, &str)] = &[
    ("MOHAMMED", "MUHAMMAD"),
    ("AHMED", "AHMAD"),
    ("OLEKSANDR", "OLEXANDR"),
    ("SERHII", "SERGIY"),
    ("YURII", "YURIY"),
    ("ANDRII", "ANDRIY"),
    ("VITALII", "VITALIY"),
    ("DMYTRO", "DMITRO"),
    ("OLEH", "OLEG"),
    ("YULIIA", "YULIA"),
    ("NATALIIA", "NATALIA"),
    ("TETIANA", "TATIANA"),
    ("MARIIA", "MARIA"),
    ("ANASTASIIA", "ANASTASIA"),
    ("VIKTORIIA", "VIKTORIA"),
    ("SOFIIA", "SOFIA"),
    ("OLHA", "OLGA"),
    ("KATERYNA", "KATERINA"),
    ("SHEVCHENKO", "SCHEWTSCHENKO"),
    ("KOVALENKO", "KOWALENKO"),
    ("LEE", "YI"),
    ("PARK", "PAK"),
    ("CHOI", "CHOE"),
    ("JUNG", "CHUNG"),
    ("KANG", "GANG"),
    ("CHO", "JO"),
    ("YOON", "YUN"),
    ("SHIN", "SIN"),
    ("KWON", "GWON"),
    ("OHNO", "ONO"),
    ("OTA", "OHTA"),
    ("ITO", "ITOH"),
    ("KATO", "KATOH"),
    ("GOTO", "GOTOH"),
    ("SAITO", "SAITOH"),
    ("LYU", "LV"),
    ("ZHOU", "CHOU"),
    ("ZHANG", "CHANG"),
    ("HUANG", "WONG"),
    ("CHEN", "CHAN"),
    ("DELA CRUZ", "DE LA CRUZ"),
    ("GONZALES", "GONZALEZ"),
];

/// One nationality: ICAO codes, name cultures, and its documents.
pub(super) struct Nation {
    /// ISO 3166-1 alpha-3 (what a CSV clerk writes).
    pub iso: &'static str,
    /// As printed in the MRZ (`D` for Germany, otherwise the ISO code).
    pub mrz: &'static str,
    /// Name cultures of its citizens with weights.
    pub cultures: &'static [(&'static Culture, u32)],
    /// Passport number pattern: `l` letter, `d` digit, `a` letter or digit,
    /// any other character literally.
    pub passport: &'static str,
    /// Visa Waiver Program country (90-day admission to the US).
    pub vwp: bool,
    /// Issues passports with sex `X`.
    pub x_sex: bool,
    /// Share of its documents with an unknown birth day and month.
    pub unknown_dob: f64,
}

macro_rules! nation {
    ($iso:literal, $mrz:literal, $cultures:expr, $pp:literal, $vwp:literal, $x:literal, $unk:literal) => {
        Nation {
            iso: $iso,
            mrz: $mrz,
            cultures: $cultures,
            passport: $pp,
            vwp: $vwp,
            x_sex: $x,
            unknown_dob: $unk,
        }
    };
}

#[rustfmt::skip]
pub(super) static NATIONS: &[Nation] = &[
    nation!(
        "CAN",
        "CAN",
        &[
            (&ANGLO_CA, 70),
            (&INDIAN, 8),
            (&CHINESE, 7),
            (&FILIPINO, 4),
            (&ITALIAN, 3),
            (&VIETNAMESE, 2),
            (&GERMAN, 2),
            (&UKRAINIAN, 2),
            (&LATAM, 2),
        ],
        "lldddddd",
        false,
        true,
        0.0
    ),
    nation!(
        "USA",
        "USA",
        &[
            (&ANGLO_US, 68),
            (&LATAM, 15),
            (&CHINESE, 4),
            (&INDIAN, 3),
            (&VIETNAMESE, 2),
            (&KOREAN, 2),
            (&FILIPINO, 3),
            (&ITALIAN, 2),
            (&GERMAN, 1),
        ],
        "ddddddddd",
        false,
        true,
        0.0
    ),
    nation!(
        "GBR",
        "GBR",
        &[(&ANGLO_GB, 1)],
        "ddddddddd",
        true,
        false,
        0.0
    ),
    nation!(
        "AUS",
        "AUS",
        &[(&ANGLO_GB, 9), (&CHINESE, 1)],
        "lddddddd",
        true,
        true,
        0.0
    ),
    nation!(
        "IRL",
        "IRL",
        &[(&ANGLO_GB, 1)],
        "llddddddd",
        true,
        false,
        0.0
    ),
    nation!("DEU", "D", &[(&GERMAN, 1)], "Caaaaaaaa", true, true, 0.0),
    nation!("FRA", "FRA", &[(&FRENCH, 1)], "ddllddddd", true, false, 0.0),
    nation!(
        "ESP",
        "ESP",
        &[(&SPANISH, 1)],
        "llldddddd",
        true,
        false,
        0.0
    ),
    nation!(
        "ITA",
        "ITA",
        &[(&ITALIAN, 1)],
        "llddddddd",
        true,
        false,
        0.0
    ),
    nation!("NLD", "NLD", &[(&DUTCH, 1)], "llaaaaaad", true, true, 0.0),
    nation!("DNK", "DNK", &[(&DANISH, 1)], "ddddddddd", true, true, 0.0),
    nation!(
        "MEX",
        "MEX",
        &[(&LATAM, 1)],
        "ldddddddd",
        false,
        false,
        0.002
    ),
    nation!(
        "COL",
        "COL",
        &[(&LATAM, 1)],
        "lldddddd",
        false,
        false,
        0.002
    ),
    nation!(
        "BRA",
        "BRA",
        &[(&BRAZILIAN, 1)],
        "lldddddd",
        false,
        false,
        0.001
    ),
    nation!("IND", "IND", &[(&INDIAN, 1)], "lddddddd", false, true, 0.01),
    nation!(
        "CHN",
        "CHN",
        &[(&CHINESE, 1)],
        "Edddddddd",
        false,
        false,
        0.001
    ),
    nation!(
        "PHL",
        "PHL",
        &[(&FILIPINO, 1)],
        "Pdddddddl",
        false,
        false,
        0.004
    ),
    nation!(
        "VNM",
        "VNM",
        &[(&VIETNAMESE, 1)],
        "lddddddd",
        false,
        false,
        0.01
    ),
    nation!("KOR", "KOR", &[(&KOREAN, 1)], "Mdddddddd", true, false, 0.0),
    nation!(
        "JPN",
        "JPN",
        &[(&JAPANESE, 1)],
        "llddddddd",
        true,
        false,
        0.0
    ),
    nation!(
        "UKR",
        "UKR",
        &[(&UKRAINIAN, 1)],
        "lldddddd",
        false,
        false,
        0.002
    ),
    nation!(
        "NGA",
        "NGA",
        &[(&NIGERIAN, 1)],
        "ldddddddd",
        false,
        false,
        0.03
    ),
];

/// Index of a nation in [`NATIONS`] by ISO code; panics on a table typo.
pub(super) fn nation_index(iso: &str) -> usize {
    NATIONS
        .iter()
        .position(|n| n.iso == iso)
        .unwrap_or_else(|| panic!("nation {iso} missing from NATIONS"))
}

/// Nationalities (ISO) of third-country nationals crossing by land, weighted.
#[rustfmt::skip]
pub(super) static TCN_WEIGHTS: &[(&str, u32)] = &[
    ("MEX", 14),
    ("IND", 14),
    ("CHN", 10),
    ("GBR", 9),
    ("DEU", 6),
    ("FRA", 6),
    ("KOR", 5),
    ("PHL", 5),
    ("JPN", 4),
    ("BRA", 4),
    ("AUS", 4),
    ("ITA", 3),
    ("ESP", 3),
    ("UKR", 3),
    ("VNM", 3),
    ("NLD", 2),
    ("COL", 2),
    ("NGA", 2),
    ("DNK", 1),
    ("IRL", 1),
];

/// Nationalities of permanent residents (Canada PR / US LPR), weighted.
#[rustfmt::skip]
pub(super) static PR_WEIGHTS: &[(&str, u32)] = &[
    ("IND", 25),
    ("CHN", 15),
    ("PHL", 15),
    ("MEX", 10),
    ("GBR", 8),
    ("VNM", 5),
    ("KOR", 5),
    ("NGA", 5),
    ("UKR", 4),
    ("COL", 3),
    ("BRA", 3),
    ("DEU", 2),
    ("FRA", 2),
];

/// Passport nationalities of dual citizens whose other citizenship is CAN or USA.
#[rustfmt::skip]
pub(super) static DUAL_WEIGHTS: &[(&str, u32)] = &[
    ("GBR", 22),
    ("IND", 10),
    ("MEX", 10),
    ("ITA", 8),
    ("CHN", 8),
    ("PHL", 8),
    ("DEU", 6),
    ("FRA", 6),
    ("KOR", 5),
    ("IRL", 5),
    ("UKR", 4),
    ("NGA", 3),
    ("VNM", 3),
    ("BRA", 2),
];

/// Mode bits of a crossing.
pub(super) const V: u8 = 1; // vehicle
pub(super) const P: u8 = 2; // pedestrian
pub(super) const B: u8 = 4; // bus
pub(super) const F: u8 = 8; // ferry
pub(super) const R: u8 = 16; // rail
pub(super) const S: u8 = 32; // sea (cruise): out of Phase II scope

/// A crossing of the border: the Canadian port and the US port facing it.
pub(super) struct Crossing {
    pub ca_port: &'static str,
    pub us_port: &'static str,
    pub name: &'static str,
    /// Local standard time offset from UTC, minutes.
    pub utc_offset_min: i32,
    pub modes: u8,
    /// Relative traffic.
    pub weight: u32,
}

macro_rules! crossing {
    ($ca:literal, $us:literal, $name:literal, $off:expr, $modes:expr, $w:literal) => {
        Crossing {
            ca_port: $ca,
            us_port: $us,
            name: $name,
            utc_offset_min: $off,
            modes: $modes,
            weight: $w,
        }
    };
}

#[rustfmt::skip]
pub(super) static CROSSINGS: &[Crossing] = &[
    crossing!(
        "0427",
        "3004",
        "Douglas BC / Blaine WA (Peace Arch, Pacific Highway)",
        -480,
        V | P | B | R,
        14
    ),
    crossing!("0828", "3009", "Huntingdon BC / Sumas WA", -480, V, 4),
    crossing!("0822", "3023", "Aldergrove BC / Lynden WA", -480, V, 2),
    crossing!("0817", "3019", "Osoyoos BC / Oroville WA", -480, V, 1),
    crossing!("0701", "3310", "Coutts AB / Sweetgrass MT", -420, V | B, 2),
    crossing!("0503", "3401", "Emerson MB / Pembina ND", -360, V | B, 2),
    crossing!(
        "0489",
        "3604",
        "Fort Frances ON / International Falls MN",
        -360,
        V | P,
        1
    ),
    crossing!(
        "0456",
        "3803",
        "Sault Ste. Marie ON / Sault Ste. Marie MI",
        -300,
        V,
        2
    ),
    crossing!(
        "0459",
        "3802",
        "Sarnia ON / Port Huron MI (Blue Water Bridge)",
        -300,
        V | B | R,
        6
    ),
    crossing!(
        "0453",
        "3801",
        "Windsor ON / Detroit MI (Ambassador Bridge)",
        -300,
        V | B,
        12
    ),
    crossing!(
        "0440",
        "3801",
        "Windsor ON / Detroit MI (Detroit-Windsor Tunnel)",
        -300,
        V | B,
        6
    ),
    crossing!(
        "0410",
        "0901",
        "Fort Erie ON / Buffalo NY (Peace Bridge)",
        -300,
        V | B,
        8
    ),
    crossing!(
        "0402",
        "0901",
        "Niagara Falls ON / Niagara Falls NY (Rainbow Bridge)",
        -300,
        V | P | R,
        8
    ),
    crossing!("0405", "0901", "Queenston ON / Lewiston NY", -300, V | B, 6),
    crossing!(
        "0376",
        "0708",
        "Lansdowne ON / Alexandria Bay NY (Thousand Islands)",
        -300,
        V,
        3
    ),
    crossing!("0377", "0701", "Prescott ON / Ogdensburg NY", -300, V, 1),
    crossing!(
        "0708",
        "0712",
        "Lacolle QC / Champlain NY",
        -300,
        V | B | R,
        7
    ),
    crossing!(
        "0351",
        "0209",
        "Stanstead QC / Derby Line VT",
        -300,
        V | P,
        2
    ),
    crossing!("0103", "0115", "St. Stephen NB / Calais ME", -240, V | P, 3),
    crossing!("0105", "0106", "Woodstock NB / Houlton ME", -240, V, 1),
    crossing!(
        "0818",
        "3007",
        "Victoria BC / Port Angeles WA (ferry)",
        -480,
        F,
        2
    ),
    crossing!(
        "0204",
        "0112",
        "Yarmouth NS / Bar Harbor ME (ferry)",
        -240,
        F,
        1
    ),
    crossing!(
        "0820",
        "3001",
        "Vancouver BC / Seattle WA (cruise)",
        -480,
        S,
        2
    ),
    crossing!(
        "0009",
        "0101",
        "Halifax NS / Portland ME (cruise)",
        -240,
        S,
        1
    ),
];

/// Local hour-of-day weights (0-23) at a land port.
pub(super) static HOUR_WEIGHTS: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 9, 9, 9, 9, 9, 8, 7, 6, 5, 4, 3, 2,
];

/// Three-letter prefixes of US permanent resident card numbers (USCIS
/// service centres).
#[rustfmt::skip]
pub(super) static GREEN_CARD_PREFIXES: &[&str] =
    &["IOE", "SRC", "LIN", "EAC", "WAC", "MSC", "NBC", "YSC"];

/// QWERTY neighbours of each letter, for typos.
pub(super) static KEY_NEIGHBOURS: [&str; 26] = [
    "QWSZ", "VGHN", "XDFV", "SERFCX", "WSDR", "DRTGVC", "FTYHBV", "GYUJNB", "UJKO", "HUIKMN",
    "JIOLM", "KOP", "NJK", "BHJM", "IKLP", "OL", "WA", "EDFT", "AWEDXZ", "RFGY", "YHJI", "CFGB",
    "QASE", "ZSDC", "TGHU", "ASX",
];
