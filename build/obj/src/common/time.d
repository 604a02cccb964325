build/obj/src/common/time.o: src/common/time.c src/common/time.h
src/common/time.h:
