"""Fixed English corpus on which the stand-in tokenizers learn their BPE merges."""

# Written for this project, so the generated tokenizers depend on no downloaded data. Its
# topic (documents, search, answers) makes the merges useful for the app's own test texts.
CORPUS = """
A search engine for your own documents reads every file in a folder, splits the text into
short passages and turns each passage into a vector of numbers. Passages that talk about the
same thing end up close to each other, so a question can be answered by finding the passages
whose vectors lie nearest to the vector of the question.
The index lives on your computer. Nothing is sent to a server, and the program keeps working
when the network is down. When a file changes, only its passages are read again; when a file
is removed, its passages are removed from the index as well.
Each answer cites the document and the page it came from. If the retrieved passages do not
contain the answer, the assistant should say that it does not know instead of inventing one.
The model that writes the answer reads the question together with the best passages. It has
a limited context, so the passages are chosen carefully and the longest ones are shortened.
Reading a long report takes time. The program shows its progress, remembers where it stopped
and continues after a restart, so no work is lost when the computer is switched off.
Some files are difficult. A scanned page holds an image and no text; a damaged file may make
a parser hang; a protected file needs a password. Such files are reported and skipped, and the
rest of the folder is still indexed.
The weather report for the coming week promises rain on Monday and Tuesday, sunshine on
Wednesday, and strong winds from the west on Thursday and Friday. Farmers hope the weekend
stays dry, because the harvest is late this year and the fields are still wet.
The recipe needs two cups of flour, one cup of milk, three eggs, a spoon of sugar and a pinch
of salt. Mix the dry ingredients first, then add the milk and the eggs, and stir until the
batter is smooth. Let it rest for an hour before you cook the pancakes in a hot pan.
The meeting on the budget was moved to next Thursday at ten in the morning. Please bring the
numbers for the third quarter, the list of open invoices and the draft of the annual plan.
The train from the north station leaves every twenty minutes during the day and every hour at
night. Tickets can be bought at the machines on the platform or from the conductor.
Questions people ask about their documents: What did the contract say about the notice period?
Which invoices are still unpaid? When is the next inspection of the building due? Who signed
the agreement with the supplier, and what price did they agree on? Where is the manual for
the heating system, and how do I reset the boiler after a power failure?
Good answers are short, quote the source and give the page number. Better answers also say
how sure they are, and point out when two documents disagree with each other.
The history of libraries shows that people have always wanted to find things quickly. A
catalogue of cards, sorted by author and by title, was once the best tool available; today a
computer can compare the meaning of words and find a passage even when it uses other words
than the question.
Small models run on ordinary laptops. They need memory for their weights and time for every
word they read or write, so the program measures both and chooses sensible limits.
Numbers such as 2024, 3.14, 100 percent and 42 appear in many documents, as do dates like the
first of January, names of months, days of the week and units such as meters, kilograms,
liters, hours, minutes and seconds.
""".strip()
